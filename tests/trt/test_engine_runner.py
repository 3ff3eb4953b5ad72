"""The Python runtime, the example app and the latency backend: a clear "needs a CUDA GPU" here, real runs on a GPU."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edge_swin.trt.layer_report import inspector_report
from edge_swin.trt.metadata import NeedsGPU
from tests.helpers import needs_trtrtx

ROOT = Path(__file__).resolve().parents[2]
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without a GPU")
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")


def _script(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.trtrtx
@needs_trtrtx
@no_gpu
def test_runner_needs_a_gpu(engines):
    from edge_swin.trt.engine_runner import EngineRunner

    with pytest.raises(NeedsGPU, match="needs a CUDA GPU"):
        EngineRunner(engines["int8"].engine)


@pytest.mark.trtrtx
@needs_trtrtx
@no_gpu
def test_classify_example_says_what_it_needs(engines, tmp_path, capsys):
    classify = _script("examples/python/classify.py")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    assert classify.main([str(engines["int8"].engine), str(tmp_path / "a.png")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert classify.main([str(engines["int8"].engine), str(tmp_path / "missing.jpg")]) == 2
    assert "image path not found" in capsys.readouterr().err


@pytest.mark.trtrtx
@needs_trtrtx
@no_gpu
def test_latency_engine_backends_not_available_here(engines, tmp_path):
    latency = _script("benchmarks/latency.py")
    out = tmp_path / "lat.json"
    assert latency.main(["--model", str(engines["int8"].engine), "--backends", "tensorrt_rtx,tensorrt_rtx_plugin,tensorrt",
                         "--batch", "1", "--runs", "2", "--warmup", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["model"]["img_size"] == 32  # from the sidecar: no checkpoint, no ONNX
    for name in ("tensorrt_rtx", "tensorrt_rtx_plugin", "tensorrt"):
        assert result["backends"][name]["status"].startswith("not available: ") and "CUDA GPU" in result["backends"][name]["status"]
        assert set(result["backends"][name]) == {"status"}


@pytest.mark.gpu
@pytest.mark.trtrtx
@needs_trtrtx
@gpu
def test_engines_match_onnx_runtime_on_a_gpu(engines, onnx_files):
    """On a GPU (TensorRT-RTX JIT-compiles the engine there): the logits of each engine against ONNX Runtime."""
    from edge_swin.eval import OrtModel, max_relative_error
    from edge_swin.trt.engine_runner import EngineRunner

    x = torch.randn(70, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # > the profile's 64: two chunks
    for precision, bound in (("fp32", 1e-3), ("fp16", 2e-2), ("int8", 5e-2)):
        runner = EngineRunner(engines[precision].engine)
        got = runner(x).cpu()
        assert got.shape == (70, 10)
        err = max_relative_error(got, OrtModel(onnx_files[precision], exact_qdq=True)(x))
        print(f"{precision}: max relative error vs ONNX Runtime {err:.2e}")
        assert err < bound, (precision, err)


def test_inspector_json_is_read_per_precision():
    """The engine inspector's JSON (DETAILED verbosity, the layout TensorRT 10 documents) -> counts per precision."""
    info = {"Layers": [
        {"Name": "conv + dq", "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "x", "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}],
         "Outputs": [{"Name": "y", "Format/Datatype": "Row major linear FP16 format"}]},
        {"Name": "ln", "LayerType": "Myelin", "Inputs": [{"Name": "y", "Format/Datatype": "Row major linear FP16 format"}]},
        {"Name": "head", "LayerType": "CaskGemmMatrixMultiply",
         "Inputs": [{"Name": "z", "Format/Datatype": "Row major linear FP32"}]},
        {"Name": "swin_attn_0", "LayerType": "PluginV3", "Inputs": [{"Name": "t", "Format/Datatype": "Row major linear FP16"}]},
        {"Name": "reformat", "LayerType": "Reformat", "Inputs": [{"Name": "t", "Format/Datatype": "Row major linear FP32"}]},
        "a layer name only (verbosity below DETAILED)",
    ], "Bindings": ["input", "output"]}
    report = inspector_report(json.dumps(info))
    assert report["counts"] == {"fp16": 1, "fp32": 1, "int8": 1, "plugin": 1, "reformat": 1, "unknown": 1}
    assert report["source"].startswith("engine inspector")


@pytest.mark.gpu
@pytest.mark.trtrtx
@needs_trtrtx
@gpu
def test_numpy_runner_matches_the_torch_runner_on_a_gpu(engines):
    """The torch-free runner (cuda-python buffers: pycuda is not a test dependency) gives the torch runner's logits."""
    from edge_swin.trt.engine_runner import EngineRunner
    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner

    x = torch.randn(70, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # > the profile's 64: two chunks
    for precision in ("fp32", "fp16", "int8"):
        reference = EngineRunner(engines[precision].engine)(x).cpu().numpy()
        runner = NumpyEngineRunner(engines[precision].engine, cuda="cuda-python")
        got = runner(x.numpy())
        runner.close()
        assert got.shape == (70, 10) and got.dtype == np.float32
        err = float(np.abs(got - reference).max() / np.abs(reference).max())
        print(f"{precision}: numpy runner vs torch runner, max relative difference {err:.1e}")
        assert err < 1e-6, (precision, err)
