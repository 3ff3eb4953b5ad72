"""Small real ONNX exports of swin_nano (32 px) and TensorRT-RTX engines built from them, once per session."""
from __future__ import annotations

import copy

import pytest
import torch

from tests.export.helpers import make_model
from tests.helpers import HAS_TRTRTX
CLASSES = [f"class{i}" for i in range(10)]
PREPROCESS = {"img_size": 32, "crop_pct": 1.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    """{"fp32", "fp16": attention23 body (the rtx target's), "int8": Q/DQ from a max-calibrated copy} -> path."""
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin import quant  # modelopt: a slow import, once
    from edge_swin.export import export_onnx

    folder = tmp_path_factory.mktemp("onnx")
    model = make_model("swin_nano")
    files = {p: export_onnx(model, folder / f"model_{p}.onnx", dynamic_batch=True, precision=p,
                            attention_body="attention23", write_report=False).path for p in ("fp32", "fp16")}
    int8 = copy.deepcopy(model)
    calib = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    quant.calibrate(int8, DataLoader(TensorDataset(calib, torch.zeros(16, dtype=torch.long)), batch_size=16), "max",
                    progress=False)
    files["int8"] = export_onnx(int8, folder / "model_int8.onnx", dynamic_batch=True, precision="int8",
                                write_report=False).path
    return files


@pytest.fixture(scope="session")
def engines(onnx_files, tmp_path_factory):
    """{"fp32", "fp16", "int8"} -> EngineBuild, built for the rtx target on this CPU."""
    if not HAS_TRTRTX:
        pytest.skip("tensorrt_rtx is not importable (pip install tensorrt-rtx-cu13)")
    from edge_swin.trt.builder import build_engine

    folder = tmp_path_factory.mktemp("engines")
    return {p: build_engine(path, folder / f"model_{p}.engine", "rtx", precision=p, classes=CLASSES,
                            preprocess=PREPROCESS, accuracy={"top1": 50.0, "model": "test"}, quiet=True)
            for p, path in onnx_files.items()}
