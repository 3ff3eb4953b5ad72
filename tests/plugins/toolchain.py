"""What the plugin-library and harness tests need to build C++ here: a TensorRT header set, CMake, a compiler.
Each missing piece skips the test with the fix (tests/test_ci_prerequisites.py makes them fail under CI)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_swin.plugins.swin_window_attention import trt_headers


def header_dir(version: str) -> Path:
    """TensorRT `version`'s include/ folder under $EDGE_SWIN_TRT_HEADERS_ROOT (CI sets it), else the test skips."""
    path = trt_headers.header_set(version)
    if path is None:
        pytest.skip(f"no TensorRT {version} headers: set {trt_headers.HEADER_SETS_ENV} to a folder of "
                    "tensorrt-<release>/include sets")
    return path


def needs_cmake_and_compiler(what: str) -> None:
    missing = [tool for tool in ("cmake", os.environ.get("CXX", "c++")) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: building {what} needs CMake and a C++ compiler")


def compile_fake_driver(d: Path, source: str) -> Path:
    """Compile a fake libcuda.so.1 (C `source`) into folder `d`, or skip where there is no C compiler."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        pytest.skip("no C compiler for the fake CUDA driver")
    (d / "fake_cuda.c").write_text(source)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", str(d / "fake_cuda.c"), "-o", str(d / "libcuda.so.1")],
                   check=True)
    return d
