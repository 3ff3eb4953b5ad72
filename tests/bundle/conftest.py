"""Fixtures for tests/bundle: tiny ONNX files, a kernel table, and a written bundle per Jetson target."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_swin.trt import get_target
from edge_swin.trt.bundle import write_bundle
from tests.bundle.helpers import ACCURACY, FIELDS, kernel_dir, tiny_onnx


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    return {"int8": tiny_onnx(root / "model_int8.onnx"), "fp16": tiny_onnx(root / "model_fp16.onnx", dtype="float16"),
            "fp32": tiny_onnx(root / "model_fp32.onnx")}


@pytest.fixture(scope="session")
def kernels(tmp_path_factory) -> Path:
    return kernel_dir(tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="session", params=["jetson-orin", "orin-nano"])
def bundle(request, tmp_path_factory, onnx_files, kernels) -> Path:
    """A bundle written once per Jetson target (tests that change it work on a copy)."""
    out = tmp_path_factory.mktemp(request.param) / "run" / "bundle"
    return write_bundle(out, target=get_target(request.param), onnx=onnx_files, accuracy=ACCURACY,
                        engine_metadata_fields=FIELDS, kernels_dir=kernels)
