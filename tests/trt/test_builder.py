"""Real TensorRT-RTX engines from small exported FP32 / FP16 / INT8 files, built on this CPU; the builder's errors."""
from __future__ import annotations

import json

import pytest

from edge_swin.errors import PluginLibraryError, TargetError
from edge_swin.trt import backend, builder, metadata
from edge_swin.utils.io import sha256_file
from tests.helpers import needs_trtrtx
from tests.trt.conftest import CLASSES

pytestmark = [pytest.mark.trtrtx, needs_trtrtx]

BLOCKS = 4  # swin_nano: depths 2-2, one SwinWindowAttention node per block
INT8_COMPUTE = 2 + 6 * BLOCKS  # patch embedding + merging, and qkv, QK^T, PV, proj, fc1, fc2 per block


def test_int8_engine_and_its_sidecar(engines, onnx_files):
    built = engines["int8"]
    meta = json.loads(built.metadata_path.read_text())
    assert meta["format"] == metadata.FORMAT and meta["precision"] == "int8"
    assert meta["tensorrt"]["flavour"] == "tensorrt_rtx" and meta["tensorrt"]["version"] == backend.load("tensorrt_rtx").version
    assert meta["target"]["name"] == "rtx" and meta["target"]["sm"] == "any" and meta["target"]["min_sm"] == 75
    assert meta["network_typing"] == "strong"  # TensorRT-RTX: unquantized layers stay FP32
    assert meta["precisions"] == ["fp32", "int8"] and meta["layers"]["counts"]["int8"] == INT8_COMPUTE
    assert "network before the build" in meta["layers"]["source"]
    assert meta["inputs"] == [{"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float",
                               "profile": {"min": [1, 3, 32, 32], "opt": [8, 3, 32, 32], "max": [64, 3, 32, 32]}}]
    assert meta["outputs"][0]["shape"] == [-1, 10] and meta["outputs"][0]["dtype"] == "float"
    assert meta["onnx"]["sha256"] == sha256_file(onnx_files["int8"])
    assert meta["engine"]["sha256"] == sha256_file(built.engine) and meta["engine"]["bytes"] > 100_000
    assert meta["plugin"] is None and meta["classes"] == CLASSES and meta["accuracy"]["top1"] == 50.0
    assert meta["preprocess"]["img_size"] == 32
    assert any("timing cache: not used" in n for n in meta["notes"])
    log = built.log_path.read_text()
    assert f"int8 {INT8_COMPUTE}" in log and "source: network before the build" in log and "strongly typed" in log
    assert log.count("\nint8     CONVOLUTION") == 1  # patch embedding; patch merging is a MatMul


def test_fp32_and_fp16_engines(engines):
    fp32, fp16 = engines["fp32"].metadata, engines["fp16"].metadata
    assert fp32["precisions"] == ["fp32"] and fp16["precisions"] == ["fp16"]
    assert fp16["inputs"][0]["dtype"] == "half"
    # the rtx target's attention23 body: TensorRT has no FP32 fused-attention kernel, so FP32 marks it decomposable
    assert any(f"{BLOCKS} fused attention layers marked decomposable" in n for n in fp32["notes"])
    assert not any("decomposable" in n for n in fp16["notes"])


def test_missing_onnx_unknown_target_and_precision(tmp_path, onnx_files):
    out = tmp_path / "x.engine"
    with pytest.raises(builder.EngineBuildError, match="ONNX file not found.*pipelines.build"):
        builder.build_engine(tmp_path / "missing.onnx", out, "rtx", precision="fp32")
    with pytest.raises(TargetError, match="unknown target 'rtx5090'.*jetson-orin"):
        builder.build_engine(onnx_files["fp32"], out, "rtx5090", precision="fp32")
    with pytest.raises(builder.EngineBuildError, match="unknown precision 'int4'"):
        builder.build_engine(onnx_files["fp32"], out, "rtx", precision="int4")
    with pytest.raises(builder.EngineBuildError, match="no DLA"):
        builder.build_engine(onnx_files["int8"], out, "rtx", precision="int8", dla=True)
    assert not list(tmp_path.iterdir())


def test_missing_plugin_library(tmp_path, onnx_files):
    with pytest.raises(PluginLibraryError, match="plugin library not found.*python -m pipelines.plugin_library --target rtx"):
        builder.build_engine(onnx_files["int8"], tmp_path / "x.engine", "rtx", precision="int8",
                             plugin_library=tmp_path / "libnope.so")
    assert not list(tmp_path.iterdir())


def test_target_that_cannot_be_built_here(tmp_path, onnx_files):
    with pytest.raises(TargetError, match="--target rtx"):
        builder.build_engine(onnx_files["int8"], tmp_path / "h.engine", "h100", precision="int8", gpu=lambda: None)
    assert not list(tmp_path.iterdir())


def test_unparseable_onnx_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(builder.EngineBuildError, match="not a readable ONNX file"):
        builder.build_engine(bad, tmp_path / "bad.engine", "rtx", precision="fp32")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_failure_while_writing_leaves_no_half_written_engine(tmp_path, onnx_files, monkeypatch):
    """Break the sidecar step on purpose: the engine already written must go too, and a previous engine stays."""
    out = tmp_path / "m.engine"
    out.write_bytes(b"previous engine")

    def broken(**kwargs):
        raise OSError("disk full (injected)")
    monkeypatch.setattr(builder, "make_metadata", broken)
    with pytest.raises(OSError, match="injected"):
        builder.build_engine(onnx_files["fp16"], out, "rtx", precision="fp16", quiet=True)
    assert not out.exists() and not metadata.sidecar_path(out).exists() and not builder.log_path(out).exists()
    assert not list(tmp_path.glob("*.partial"))


def test_cli_builds_and_fails_cleanly(tmp_path, onnx_files, capsys):
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps({"classes": CLASSES, "preprocess": {"img_size": 32}}))
    out = tmp_path / "cli.engine"
    assert builder.main([str(onnx_files["fp16"]), "--target", "rtx", "--precision", "fp16", "--out", str(out),
                        "--metadata-fields", str(fields)]) == 0
    assert metadata.read_metadata(out)["classes"] == CLASSES
    assert builder.main([str(tmp_path / "nope.onnx"), "--target", "rtx", "--precision", "fp16", "--out",
                        str(tmp_path / "n.engine")]) == 2
    assert "ONNX file not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def int8_fp16_onnx(tmp_path_factory):
    """The INT8 export with an FP16 graph (the export stage's model_int8_fp16.onnx) of a max-calibrated swin_nano."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin import quant
    from edge_swin.export import export_onnx
    from tests.export.helpers import make_model

    model = make_model("swin_nano")
    calib = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    quant.calibrate(model, DataLoader(TensorDataset(calib, torch.zeros(16, dtype=torch.long)), batch_size=16), "max",
                    progress=False)
    return export_onnx(model.eval(), tmp_path_factory.mktemp("int8_fp16") / "model_int8_fp16.onnx", dynamic_batch=True,
                       precision="int8", high_precision_dtype="fp16", write_report=False).path


def test_plugin_engines_when_the_library_can_be_built_here(tmp_path, onnx_files, int8_fp16_onnx):
    """Our plugin library (kernels compiled ahead of time, CMake, cached): every SwinWindowAttention node becomes a
    plugin layer in the FP16 and INT8 engines (the INT8 one from the FP32 graph and from the FP16 graph), and the
    sidecar records the library and its SMs."""
    from edge_swin.trt.metadata import EngineMismatch, GpuInfo, check_engine
    from edge_swin.trt.plugin_cache import plugin_library_for
    from edge_swin.trt.targets import get_target

    lib, sms, notes = plugin_library_for([onnx_files["int8"], onnx_files["fp16"]], get_target("rtx"))
    if lib is None:
        pytest.skip(f"the plugin library cannot be had here: {notes}")
    for precision in ("int8", "fp16"):
        built = builder.build_engine(onnx_files[precision], tmp_path / f"{precision}_plugin.engine", "rtx",
                                     precision=precision, plugin_library=lib, plugin_sms=sms, quiet=True)
        plugin = built.metadata["plugin"]
        assert plugin["layers"] == plugin["custom_ops"] == BLOCKS and built.layers["counts"]["plugin"] == BLOCKS
        assert plugin["sha256"] == sha256_file(lib) and plugin["sms"] == sorted(sms)
        assert f"{BLOCKS} of {BLOCKS} SwinWindowAttention nodes are plugin layers" in built.log_path.read_text()
    assert "int8" not in built.layers["counts"] and built.layers["counts"]["fp16"] > 0
    # The engine stage's INT8 plugin engine comes from model_int8_fp16.onnx (strongly typed builders): the INT8
    # node with fp16 io and float32 scales is a plugin layer too, no fallback to model_int8.onnx needed.
    int8_fp16 = builder.build_engine(int8_fp16_onnx, tmp_path / "int8_fp16_plugin.engine", "rtx", precision="int8",
                                     plugin_library=lib, plugin_sms=sms, quiet=True)
    plugin = int8_fp16.metadata["plugin"]
    assert plugin["layers"] == plugin["custom_ops"] == BLOCKS and int8_fp16.layers["counts"]["plugin"] == BLOCKS
    check_engine(built.engine, plugin_library=lib, gpu=lambda: GpuInfo("some GPU", sms[0]))
    with pytest.raises(EngineMismatch, match="plugin library has kernels for SM"):
        check_engine(built.engine, plugin_library=lib, gpu=lambda: GpuInfo("NVIDIA B200", 100))
