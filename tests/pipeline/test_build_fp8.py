"""FP8 through the pipeline: Thor's default (QAT to FP8, model_fp8.onnx in ONNX Runtime, the bundle), and FP8
refused before training where the GPU has none. (TensorRT-RTX's FP8 build: tests/export/test_fp8_export.py.)"""
from __future__ import annotations

import json

import pytest

from tests.bundle.helpers import kernel_dir
from tests.helpers import make_image_folder
from tests.pipeline.test_build import build


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=8, size=36)


def _fp8_rows(out) -> tuple[dict, dict]:
    report = json.loads((out / "report.json").read_text())
    return report["stages"], (out / "report.md").read_text()


def test_thor_quantizes_to_fp8_by_default_and_bundles_it(capsys, tmp_path, image_root, monkeypatch):
    from edge_swin.plugins.swin_window_attention.aot.kernel_cache import Kernels
    from edge_swin.plugins.swin_window_attention import plugin_build

    asked = []

    def stub_kernels(windows, sms, cuda=None):  # the AOT build is the kernels' own tests'; here: what is asked
        asked.append((list(sms), cuda))
        return Kernels(kernel_dir(tmp_path / "kernels", sms=tuple(sms), windows=tuple(windows)), list(sms), "")

    monkeypatch.delenv("EDGE_SWIN_PLUGIN_KERNELS", raising=False)
    monkeypatch.setattr(plugin_build, "compiled_kernels", stub_kernels)
    out = tmp_path / "thor"
    assert build("--data", image_root, "--epochs", 1, "--target", "jetson-thor", "--out", out) == 0
    stages, md = _fp8_rows(out)
    qat = stages["qat"]["numbers"]
    assert qat["format"] == "fp8" and qat["recipe"] == "swin_fp8" and {"fp32", "ptq", "qat"} <= set(qat)
    assert (out / "qat" / "fp8.pth").is_file() and not (out / "qat" / "int8.pth").exists()
    exported = stages["export"]["numbers"]
    assert {"fp32", "fp16", "fp8", "fp8_fp16"} <= set(exported) and "int8" not in exported
    assert exported["fp8"]["opset"] >= 19 and exported["fp8"]["ort_max_relative_error"] < 1e-2
    evaluated = stages["evaluate"]["numbers"]["onnxruntime_fp8"]
    assert "top1" in evaluated and evaluated["fake_quant"] == "qat" and "top1_minus_fake_quant" in evaluated
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert manifest["default_precision"] == "fp8" and manifest["plugin"]["sm"] == 110
    assert manifest["onnx"]["fp8"]["inputs"][0]["dtype"] == "half"  # the FP16-graph file: strongly typed FP8
    assert asked == [([110], "13.0")]
    assert "## FP8 (modelopt, Swin placement, recipe swin_fp8)" in md and "onnxruntime_fp8" in md


@pytest.mark.parametrize("args, message", [
    (("--target", "jetson-orin", "--quant-recipe", "swin_fp8"), "jetson-orin cannot run FP8"),
    (("--target", "jetson-thor", "--quant-recipe", "swin_fp9"), "unknown quantization recipe 'swin_fp9'"),
    (("--target", "rtx", "--quant-recipe", "swin_fp8", "--calib-method", "entropy"), "calibrates with 'max' only"),
])
def test_bad_fp8_choices_fail_before_training(capsys, tmp_path, image_root, args, message):
    assert build("--data", image_root, *args, "--out", tmp_path / "r") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
