"""The jetson-thor bundle: FP8 first, JetPack 7.0's CUDA/TensorRT recorded, sm_110 kernels from CUDA 13.0's
ptxas asked for, Dockerfile.jetson on the JetPack 7 image; FP8 refused where the GPU has none."""
from __future__ import annotations

import json
import shlex
import sys

import pytest

from edge_swin.errors import TargetError
from edge_swin.trt import get_target
from edge_swin.plugins.swin_window_attention import plugin_build
from edge_swin.trt.bundle import PLATFORMS, write_bundle
from tests.bundle.helpers import ACCURACY, FIELDS, copy_bundle, fake_headers, kernel_dir, make_stubs, recorded, \
    run_script, tiny_onnx

THOR = "jetson-thor"


def _env(bundle) -> dict[str, str]:
    pairs = (line.partition("=") for line in (bundle / "bundle.env").read_text().splitlines()
             if line and not line.startswith("#"))
    return {k: shlex.split(v)[0] if v else "" for k, _, v in pairs}


@pytest.fixture(scope="module")
def thor_onnx(tmp_path_factory):
    root = tmp_path_factory.mktemp("thor-onnx")
    return {"fp8": tiny_onnx(root / "model_fp8.onnx", dtype="float16"), "int8": tiny_onnx(root / "model_int8.onnx"),
            "fp16": tiny_onnx(root / "model_fp16.onnx", dtype="float16"), "fp32": tiny_onnx(root / "model_fp32.onnx")}


@pytest.fixture(scope="module")
def thor_kernels(tmp_path_factory):
    path = kernel_dir(tmp_path_factory.mktemp("thor-kernels"), sms=(110,))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(ptxas_version="13.0", ptxas={"source": "nvidia-cuda-nvcc"})
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture(scope="module")
def thor_bundle(tmp_path_factory, thor_onnx, thor_kernels):
    return write_bundle(tmp_path_factory.mktemp("thor") / "bundle", target=get_target(THOR), onnx=thor_onnx,
                        accuracy=ACCURACY, engine_metadata_fields=FIELDS, kernels_dir=thor_kernels)


def test_thor_target_row():
    thor = get_target(THOR)
    assert (thor.sm, thor.cuda, thor.tensorrt, thor.dla, thor.build_on) == (110, "13.0", "10.13.3", "none", "device")
    assert thor.default_low_precision == "fp8" and thor.low_precisions == ("fp8", "int8")
    assert PLATFORMS[thor.tensorrt]["jetpack"] == "7.0" and PLATFORMS[thor.tensorrt]["l4t"] == "R38.2"


def test_thor_bundle_is_fp8_first_with_sm110_kernels(thor_bundle):
    manifest = json.loads((thor_bundle / "manifest.json").read_text())
    assert manifest["default_precision"] == "fp8"
    assert list(manifest["onnx"]) == ["fp8", "int8", "fp16"] and "fp32" in manifest["onnx_left_out"]
    assert (thor_bundle / "onnx/model_fp8.onnx").is_file() and (thor_bundle / "onnx/model_fp8.inlined.onnx").is_file()
    assert manifest["expected"] == {"tensorrt": "10.13.3", "cuda": "13.0", "jetpack": "7.0", "l4t": "R38.2",
                                    "image": PLATFORMS["10.13.3"]["image"], "sm": 110, "gpu": "Thor (Blackwell iGPU)"}
    assert manifest["plugin"]["available"] and manifest["plugin"]["sm"] == 110
    assert manifest["plugin"]["ptxas"] == {"version": "13.0", "source": "nvidia-cuda-nvcc"}
    assert manifest["plugin"]["precisions"] == ["fp16", "int8"]  # the kernel table's modes: the plugin serves those
    env = _env(thor_bundle)
    assert env["TARGET_SM"] == "110" and env["DEFAULT_PRECISION"] == "fp8" and env["TARGET_DLA"] == "none"
    assert env["BUNDLE_PRECISIONS"] == "fp8 int8 fp16" and env["EXPECTED_TENSORRT"] == "10.13.3"
    assert env["PLUGIN_PRECISIONS"] == "fp16 int8"
    # the bundle's Dockerfile builds on JetPack 7's image; the repository's keeps JetPack 6's default
    lines = (thor_bundle / "Dockerfile.jetson").read_text().splitlines()
    assert f"ARG BASE_IMAGE={PLATFORMS['10.13.3']['image']}" in lines and "FROM ${BASE_IMAGE}" in lines
    assert manifest["dockerfile_base_image"] == PLATFORMS["10.13.3"]["image"]


def test_thor_kernels_are_asked_for_sm110_with_cuda_13_0(tmp_path, thor_onnx, thor_kernels, monkeypatch):
    """Without a kernels folder the bundle asks the AOT kernel cache for sm_110 cubins from CUDA 13.0's ptxas."""
    calls = []

    def fake_compiled(windows, sms, cuda=None):
        calls.append((sorted(windows), list(sms), cuda))
        from edge_swin.plugins.swin_window_attention.aot.kernel_cache import Kernels

        return Kernels(thor_kernels, list(sms), "")

    monkeypatch.delenv("EDGE_SWIN_PLUGIN_KERNELS", raising=False)
    monkeypatch.setattr(plugin_build, "compiled_kernels", fake_compiled)
    write_bundle(tmp_path / "bundle", target=get_target(THOR), onnx={"fp8": thor_onnx["fp8"]}, accuracy=None)
    assert calls == [([(4, 4)], [110], "13.0")]


def test_fp8_is_left_out_of_an_orin_bundle(tmp_path, thor_onnx, kernels):
    out = write_bundle(tmp_path / "bundle", target=get_target("jetson-orin"), onnx=thor_onnx, accuracy=None,
                       kernels_dir=kernels)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["default_precision"] == "int8" and "fp8" in manifest["onnx_left_out"]
    assert not (out / "onnx/model_fp8.onnx").exists()


def test_fp8_on_orin_is_one_clear_error():
    with pytest.raises(TargetError, match=r"jetson-orin cannot run FP8 .*no FP8 tensor cores.*int8"):
        get_target("jetson-orin").check_low_precision("fp8")
    get_target("h100").check_low_precision("int8")  # both exist there


def test_build_script_builds_fp8_strongly_typed(tmp_path, thor_bundle):
    work = copy_bundle(thor_bundle, tmp_path / "bundle")
    log = tmp_path / "log"
    log.mkdir()
    trt, cuda = fake_headers(tmp_path / "headers", "10.13.3")
    result = run_script(work, ["--out", str(tmp_path / "out"), "--builder", "trtexec"],
                        stubs=make_stubs(tmp_path, sys.executable), log=log, trt_include=trt, cuda_include=cuda)
    assert result.returncode == 0, result.stderr
    args = recorded(log, "trtexec")[0]
    assert "--stronglyTyped" in args and "--int8" not in args and "--fp16" not in args
    # this bundle's kernel table has no FP8 kernels: the FP8 engine is built without the plugin, from the inlined body
    assert "has kernels for fp16 int8, not fp8" in result.stdout + result.stderr
    assert any(a.endswith("model_fp8.inlined.onnx") for a in args) and not any("dynamicPlugins" in a for a in args)
    assert (tmp_path / "out" / "model_fp8_noplugin.engine").is_file()


def test_build_script_uses_the_plugin_for_fp8_where_the_table_has_fp8_kernels(tmp_path, thor_onnx):
    """A Thor kernel table with the FP8 node's kernels (sm_110 is one of the SMs they are built for): the bundle
    lists fp8 among the plugin's precisions and build_engine.sh builds the FP8 engine with the plugin library."""
    kernels = kernel_dir(tmp_path / "kernels", sms=(110,), modes=("fp16", "int8", "fp8"))
    bundle = write_bundle(tmp_path / "bundle", target=get_target(THOR), onnx=thor_onnx, accuracy=ACCURACY,
                          engine_metadata_fields=FIELDS, kernels_dir=kernels)
    assert json.loads((bundle / "manifest.json").read_text())["plugin"]["precisions"] == ["fp16", "fp8", "int8"]
    assert _env(bundle)["PLUGIN_PRECISIONS"] == "fp16 fp8 int8"
    work = copy_bundle(bundle, tmp_path / "work")
    log = tmp_path / "log"
    log.mkdir()
    trt, cuda = fake_headers(tmp_path / "headers", "10.13.3")
    result = run_script(work, ["--out", str(tmp_path / "out"), "--builder", "trtexec"],
                        stubs=make_stubs(tmp_path, sys.executable), log=log, trt_include=trt, cuda_include=cuda)
    assert result.returncode == 0, result.stderr
    args = recorded(log, "trtexec")[0]
    assert "--stronglyTyped" in args and any("dynamicPlugins" in a for a in args), args
    assert any(a.endswith("model_fp8.onnx") for a in args) and "not fp8" not in result.stdout + result.stderr
    assert (tmp_path / "out" / "model_fp8.engine").is_file()
    assert not (tmp_path / "out" / "model_fp8_noplugin.engine").exists()
