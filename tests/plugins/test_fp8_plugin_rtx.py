"""The FP8 SwinWindowAttention node through TensorRT-RTX's builder on a CPU: the plugin's FP8 branch.

An FP8 export with an FP16 graph (what every FP8 engine is built from) of a max-calibrated swin_nano, its nodes
marked for the plugin, built for SM 8.9 (the one compute capability TensorRT-RTX 1.7 targets that has FP8
tensor cores and FP8 node kernels) with a plugin library whose kernel table holds sm_89 kernels only. Every node
must become a plugin layer that takes FP8 weights (inputs 1, 3), fp16 tensors and y, fp32 per-tensor scales,
and the engine must build. A table without FP8 kernels (sm_87 only, an Orin's) refuses the FP8 node.

The table is the stub (empty cubins): the builder never launches a kernel; enqueue needs a GPU.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from edge_swin.export import export_onnx
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.contract import OP_TYPE, PLUGIN_NAMESPACE, PLUGIN_VERSION
from edge_swin.trt import backend, rtx_alias
from tests.helpers import needs_trtrtx
from tests.plugins.stub_kernels import write_stub_table
from tests.plugins.test_plugin_library import (RTX_HEADERS, built_library, node_metadata, rtx_build, swin_nodes,
                                               with_plugin_namespace)

pytestmark = [pytest.mark.trtrtx, needs_trtrtx]

FP8_SM = 89  # Ada: TensorRT-RTX 1.7 targets 75, 80, 86, 89, 120, 121; the node's FP8 kernels exist for 89, 90, 110
MAX_BATCH = 8
# x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, then the eight scales
FP8_NODE_TYPES = ["HALF", "FP8", "HALF", "FP8", "HALF", "HALF", "HALF"] + ["FLOAT"] * 8


_LIBRARIES: dict[tuple[int, ...], Path] = {}  # one build per kernel table in this module


def _library(tmp_path_factory, sms: tuple[int, ...]) -> Path:
    if sms in _LIBRARIES:
        return _LIBRARIES[sms]
    if not backend.available("tensorrt_rtx"):
        pytest.skip("tensorrt_rtx is not importable (pip install tensorrt-rtx-cu13)")
    if not rtx_alias.usable():
        pytest.skip(f"the RTX parser would abort on a plugin node: {rtx_alias.status()}")
    name = "sm" + "_".join(map(str, sms))
    table = write_stub_table(tmp_path_factory.mktemp(f"kernels_{name}") / "embedded_kernels.cpp", sms=sms)
    _LIBRARIES[sms] = built_library(RTX_HEADERS, table, tmp_path_factory.mktemp(f"plugins_{name}"))
    return _LIBRARIES[sms]


@pytest.fixture(scope="module")
def fp8_onnx(tmp_path_factory) -> Path:
    """swin_nano (4 nodes: W-MSA, SW-MSA, two W-MSA on the 4x4 map), swin_fp8-calibrated, FP8 export with an
    FP16 graph (the export stage's model_fp8_fp16.onnx), dynamic batch, nodes marked for the plugin."""
    from edge_swin import quant
    from edge_swin.models import create_swin

    torch.manual_seed(0)
    model = copy.deepcopy(create_swin("swin_nano", num_classes=10)).eval()
    calib = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    quant.calibrate(model, DataLoader(TensorDataset(calib, torch.zeros(8, dtype=torch.long)), batch_size=8),
                    "max", recipe="swin_fp8", progress=False)
    d = tmp_path_factory.mktemp("fp8")
    res = export_onnx(model.eval(), d / "nano_fp8_fp16.onnx", precision="fp8", dynamic_batch=True,
                      high_precision_dtype="fp16")
    return with_plugin_namespace(res.path, d / "nano_fp8_fp16_plugin.onnx")


@pytest.fixture
def loaded(request, tmp_path_factory):
    """The library of a stub table with kernels for the SMs `request.param`, loaded; unloaded after."""
    trt = backend.load("tensorrt_rtx").trt
    library.unload_all(trt)
    handle = library.load_library(_library(tmp_path_factory, request.param), trt)
    yield handle
    library.unload_library(handle, trt)


@pytest.mark.parametrize("loaded", [(FP8_SM,)], indirect=True)
def test_fp8_export_builds_with_plugin_for_sm89(loaded, fp8_onnx):
    res = rtx_build(fp8_onnx, batch=(1, 2, MAX_BATCH), sm=FP8_SM)
    assert res.parsed and res.built, (res.errors, res.errors_logged())
    nodes = swin_nodes(fp8_onnx)
    assert len(res.plugin_layers) == len(nodes) == 4 and "SOFTMAX" not in res.layer_types, res.layer_types
    by_name = {p["name"]: p for p in res.plugin_layers}
    for node in nodes:
        layer = by_name[node.name]
        assert layer["plugin"] == (PLUGIN_NAMESPACE, OP_TYPE, PLUGIN_VERSION)
        assert layer["metadata"] == node_metadata(node)
        assert layer["inputs"] == FP8_NODE_TYPES and layer["y_type"] == "HALF", layer
        # the builder accepted FP8 weights and scalar (per-tensor) scales ...
        assert res.plugin_log(node.name, "supportsFormatCombination: pos 1 FP8 LINEAR -> yes")
        assert res.plugin_log(node.name, "supportsFormatCombination: pos 3 FP8 LINEAR -> yes")
        assert res.plugin_log(node.name, "configurePlugin: 15 inputs, HALF")
        # ... with one-byte (fp8) workspaces: qkv 3C + attention output C bytes a token, 256-byte aligned
        _, h, w, c = layer["x_shape"]
        tokens = MAX_BATCH * h * w
        align = lambda b: (b + 255) // 256 * 256
        assert res.plugin_log(node.name, f"getWorkspaceSize: {align(tokens * 3 * c) + align(tokens * c)} bytes")
        assert res.plugin_log(node.name, f"getFieldsToSerialize: {node_metadata(node)}")
    print(f"FP8 swin_nano, sm_{FP8_SM}: {len(by_name)} PLUGIN_V3 layers, layer types {res.layer_types}")


@pytest.mark.parametrize("loaded", [(87,)], indirect=True)
def test_a_table_without_fp8_kernels_refuses_the_fp8_node(loaded, fp8_onnx):
    """An Orin's table (sm_87: FP16 and INT8 kernels only) offers TensorRT no FP8 weights: the build fails."""
    res = rtx_build(fp8_onnx, batch=(1, 2, MAX_BATCH), sm=FP8_SM)
    assert not res.built
    node = swin_nodes(fp8_onnx)[0].name
    assert res.plugin_log(node, "supportsFormatCombination: pos 1 FP8 LINEAR -> no")
    assert not res.plugin_log(node, "supportsFormatCombination: pos 1 FP8 LINEAR -> yes")


@pytest.fixture(scope="module")
def sm89_library(tmp_path_factory) -> Path:
    return _library(tmp_path_factory, (FP8_SM,))


def test_engine_stage_builder_makes_the_fp8_plugin_engine(sm89_library, fp8_onnx, tmp_path):
    """What the engine stage runs for `fp8_plugin` on the rtx target: build_engine with the library, the FP8
    precision and the FP16-graph FP8 file; its sidecar counts the plugin layers."""
    from edge_swin.trt.builder import build_engine

    trt = backend.load("tensorrt_rtx").trt
    library.unload_all(trt)
    built = build_engine(fp8_onnx, tmp_path / "model_fp8_plugin.engine", "rtx", precision="fp8",
                         plugin_library=sm89_library, plugin_sms=[FP8_SM], quiet=True)
    library.unload_all(trt)
    meta = built.metadata
    assert meta["plugin"]["layers"] == len(swin_nodes(fp8_onnx)) == 4 and meta["plugin"]["sms"] == [FP8_SM], meta["plugin"]
    assert (tmp_path / "model_fp8_plugin.engine").stat().st_size == meta["engine"]["bytes"] > 0
    assert meta["target"]["min_sm"] == FP8_SM  # rtx engines run from SM 7.5, FP8 ones from 8.9
    print(f"model_fp8_plugin.engine: {meta['engine']['bytes']} bytes, layers {meta['layers']['counts']}")


def test_engine_stage_builds_fp8_with_the_plugin_only_where_fp8_kernels_are():
    from pipelines.stages.engine import plugin_precisions

    sources = {"fp32": Path("a"), "fp16": Path("b"), "fp8": Path("c")}
    assert plugin_precisions(sources, [75, 80, 86, 89, 90]) == ["fp16", "fp8"]  # rtx: sm_89 and sm_90 kernels
    assert plugin_precisions(sources, [110]) == ["fp16", "fp8"]                  # Thor
    assert plugin_precisions(sources, [87]) == ["fp16"]                          # an Orin's table: no FP8 kernels
    assert plugin_precisions({"fp16": Path("b"), "int8": Path("d")}, [89]) == ["fp16", "int8"]
