"""Whole-model export: one node per block, report, plain graph, FP16, the model left as it was."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from edge_swin.export import DOMAIN, OP_TYPE, export_onnx
from edge_swin.models.window_attention import WindowAttention

from tests.export.helpers import make_model, ort_run, rel_err


@pytest.fixture(scope="module")
def nano():
    return make_model("swin_nano")


@pytest.fixture(scope="module")
def nano_fp32(nano, tmp_path_factory):
    return export_onnx(nano, tmp_path_factory.mktemp("nano") / "model.onnx", dynamic_batch=True)


def test_one_custom_node_per_block(nano, nano_fp32):
    model = onnx.load(nano_fp32.path)
    blocks = [n for n, m in nano.named_modules() if isinstance(m, WindowAttention)]
    calls = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(calls) == len(blocks) == nano_fp32.report["custom_op_count"] == 4
    assert sorted(n.name for n in calls) == sorted(blocks)  # each node named after its block
    assert {o.domain: o.version for o in model.opset_import} == {"": 18, DOMAIN: 1}
    assert [(f.domain, f.name) for f in model.functions] == [(DOMAIN, OP_TYPE)]
    assert nano_fp32.simplified_with in ("onnxsim", "onnxslim")
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("batch", [1, 8])
def test_model_matches_pytorch(nano, nano_fp32, batch):
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        ref = nano(x).numpy()
    assert rel_err(ort_run(nano_fp32.path, x), ref) < 1e-4


def test_report_written_with_artifact(nano_fp32):
    report = json.loads(nano_fp32.report_path.read_text())
    assert nano_fp32.report_path.parent == nano_fp32.path.parent
    assert report["file_bytes"] == nano_fp32.path.stat().st_size
    assert report["custom_op_count"] == 4 and report["qdq_pairs"] == 0
    assert report["nodes_by_type"][f"{DOMAIN}::{OP_TYPE}"] == 4
    assert report["inputs"][0]["shape"][0] == "batch"
    fn = report["functions"][f"{DOMAIN}::{OP_TYPE}"]
    assert fn["nodes_by_type"]["Softmax"] == 1 and fn["opsets"] == {"ai.onnx": 18}


def test_plain_export_has_no_custom_op(nano, tmp_path):
    res = export_onnx(nano, tmp_path / "plain.onnx", custom_op=False, batch=2)
    model = onnx.load(res.path)
    assert not model.functions and all(n.domain == "" for n in model.graph.node)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = nano(x).numpy()
    assert rel_err(ort_run(res.path, x), ref) < 1e-4


def test_fp16_export(nano, tmp_path):
    res = export_onnx(nano, tmp_path / "fp16.onnx", precision="fp16", attention_body="attention23", batch=2)
    assert res.report["inputs"][0]["dtype"] == "FLOAT16" and res.report["outputs"][0]["dtype"] == "FLOAT16"
    assert res.report["custom_op_count"] == 4
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = nano(x).numpy()
    out = ort_run(res.path, x.half()).astype(np.float32)
    assert rel_err(out, ref) < 1e-2
    assert next(nano.parameters()).dtype == torch.float32  # the caller's model stays FP32


def test_model_untouched_by_export(nano, nano_fp32):
    for m in nano.modules():
        if isinstance(m, WindowAttention):
            assert "forward" not in vars(m) and not hasattr(m, "_export_name")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.isfinite(nano(x)).all()
