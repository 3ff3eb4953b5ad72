"""What the plugin-library and harness tests need to build C++ here: a TensorRT header set, CMake, a compiler.
Each missing piece skips the test with the fix (tests/test_ci_prerequisites.py makes them fail under CI)."""
import os
import shutil
from pathlib import Path

import pytest

from edge_swin.plugins import library


def header_dir(version: str) -> Path:
    path = library.HEADERS_ROOT / f"tensorrt-{version}" / "include"
    if not (path / "NvInferRuntime.h").is_file():
        pytest.skip(f"no TensorRT {version} headers at {path} (set EDGE_SWIN_TRT_HEADERS_ROOT)")
    return path


def needs_cmake_and_compiler(what: str) -> None:
    missing = [tool for tool in ("cmake", os.environ.get("CXX", "c++")) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: building {what} needs CMake and a C++ compiler")
