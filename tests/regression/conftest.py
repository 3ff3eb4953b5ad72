"""One reference model, its ONNX export and its runners, shared by every regression test (made once, ~30 s)."""
from __future__ import annotations

import pytest
import torch

from edge_swin.bench import ModelSpec, make_runner


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/regression/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.regression)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    from edge_swin.bench.reference import IMG, reference_data, reference_model
    from edge_swin.export import export_onnx

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    model = reference_model()
    images, labels = reference_data()
    path = export_onnx(model, tmp_path_factory.mktemp("regression") / "ref.onnx", dynamic_batch=True,
                       write_report=False).path
    spec = ModelSpec(img_size=IMG, build_torch=lambda: model, onnx_fp32=path, name="reference")
    runners = {n: make_runner(n, spec, threads=1) for n in ("pytorch_fp32", "onnxruntime_fp32")}
    torch.set_num_threads(previous)
    return {"model": model, "images": images, "labels": labels, "spec": spec, "runners": runners}
