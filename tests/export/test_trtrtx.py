"""NVIDIA's ONNX parser on a CPU: exported files parse and build under TensorRT-RTX (no GPU needed).

Engines are built the way users build them, with edge_swin.trt.builder.build_engine for the rtx target; the
layer counts come from its report (the network as parsed, since no GPU can deserialise the engine here).
"""
from __future__ import annotations

import ctypes
from collections import Counter

import pytest

from edge_swin.export import export_onnx
from edge_swin.trt import backend, rtx_alias
from edge_swin.trt.builder import build_engine
from tests.export.helpers import make_block, make_model
from tests.helpers import needs_trtrtx

pytestmark = [pytest.mark.trtrtx, needs_trtrtx]


def layer_types(built) -> Counter:
    """Layers of the built network by TensorRT layer type (the report leaves out Q/DQ and constants)."""
    return Counter(row["type"] for row in built.layers["layers"])


def test_fp32_matmul_model_parses_and_builds(tmp_path):
    res = export_onnx(make_model("swin_nano"), tmp_path / "nano.onnx", dynamic_batch=True, attention_body="matmul")
    built = build_engine(res.path, tmp_path / "nano.engine", "rtx", precision="fp32", quiet=True)
    types = layer_types(built)
    assert built.engine.stat().st_size > 0
    assert built.metadata["plugin"] is None and "plugin" not in built.layers["counts"]  # the function body was used
    assert types["SOFTMAX"] == 4        # one Softmax per block, from the matmul body


def test_fp16_attention23_model_builds_fused_attention(tmp_path):
    res = export_onnx(make_model("swin_nano"), tmp_path / "nano16.onnx", batch=2, precision="fp16",
                      attention_body="attention23")
    built = build_engine(res.path, tmp_path / "nano16.engine", "rtx", precision="fp16", quiet=True)
    types = layer_types(built)
    assert types["ATTENTION_INPUT"] == 4 and "SOFTMAX" not in types


def test_padded_shifted_block_builds(tmp_path):
    res = export_onnx(make_block(feat=(7, 9), shift=True), tmp_path / "blk.onnx", dynamic_batch=True)
    built = build_engine(res.path, tmp_path / "blk.engine", "rtx", precision="fp32", quiet=True)
    assert built.engine.stat().st_size > 0


def test_unversioned_library_name_resolves():
    """The RTX parser's gotcha: it dlopens "libtensorrt_rtx.so" for plugin nodes; rtx_alias makes that name load."""
    backend.load("tensorrt_rtx")
    if not rtx_alias.usable():
        pytest.skip(f"no libtensorrt_rtx.so alias here: {rtx_alias.status()}")
    ctypes.CDLL("libtensorrt_rtx.so")  # by bare name, as the parser does


def test_unknown_flavour():
    with pytest.raises(backend.TensorRTUnavailable, match="unknown TensorRT flavour"):
        backend.load("tensorrt_llm")
