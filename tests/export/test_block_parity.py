"""PyTorch WindowAttention vs ONNX Runtime on the exported SwinWindowAttention node: W-MSA, SW-MSA, padding, batch 1 and 8."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch

from edge_swin.export import DOMAIN, FUNCTION_VERSION, OP_TYPE, export_onnx

from tests.export.helpers import make_block, ort_run, rel_err

# (feat, window, shift, body): 8x8 needs no padding; 7x9 and 5x6 pad to whole windows (odd sizes).
CASES = {
    "wmsa-8x8": ((8, 8), 4, False, "matmul"),
    "swmsa-8x8": ((8, 8), 4, True, "matmul"),
    "wmsa-7x9-pad": ((7, 9), 4, False, "matmul"),
    "swmsa-7x9-pad": ((7, 9), 4, True, "matmul"),
    "swmsa-5x6-pad-win3": ((5, 6), 3, True, "matmul"),
    "swmsa-7x9-pad-attention23": ((7, 9), 4, True, "attention23"),
}
_cache = {}


def exported(case, tmp_path_factory):
    if case not in _cache:
        feat, window, shift, body = CASES[case]
        block = make_block(feat=feat, window=window, shift=shift, seed=len(_cache))
        res = export_onnx(block, tmp_path_factory.mktemp(case) / "block.onnx", dynamic_batch=True, attention_body=body)
        _cache[case] = block, res
    return _cache[case]


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("case", list(CASES))
def test_block_matches_pytorch(case, batch, tmp_path_factory):
    block, res = exported(case, tmp_path_factory)
    x = torch.randn(batch, *block.feat_size, block.dim, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        ref = block(x).numpy()
    err = rel_err(ort_run(res.path, x), ref)
    assert err < 1e-4, f"{case} batch {batch}: max relative error {err:.2e}"


@pytest.mark.parametrize("case", ["wmsa-8x8", "swmsa-7x9-pad"])
def test_one_node_with_named_attributes(case, tmp_path_factory):
    block, res = exported(case, tmp_path_factory)
    model = onnx.load(res.path)
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(nodes) == 1 and len(model.graph.node) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs["num_heads"] == block.num_heads
    assert list(attrs["window_size"]) == list(block.window_size)
    assert list(attrs["shift_size"]) == list(block.shift_size)
    assert attrs["scale"] == pytest.approx(block.scale)
    assert attrs["version"] == FUNCTION_VERSION
    assert attrs["plugin_namespace"] == b"edge_swin"  # the TensorRT parser maps the node to our plugin by it
    assert len(nodes[0].input) == 7 and all(nodes[0].input)  # every input present: TensorRT's parser requires it
    assert nodes[0].name == "WindowAttention"            # named after the block (module path)
    assert [f.name for f in model.functions] == [OP_TYPE]
    # the bias input is the gathered [heads, N, N] table
    inits = {t.name: t for t in model.graph.initializer}
    N = block.window_area
    assert list(inits[nodes[0].input[5]].dims) == [block.num_heads, N, N]
    nW = block.attn_mask.shape[0] if block.shifted else None
    assert list(inits[nodes[0].input[6]].dims) == ([nW, N, N] if block.shifted else [1, 1, 1])  # W-MSA: "no mask" zero


def test_mask_matters(tmp_path_factory):
    """The shift mask reaches the body: replacing it by the W-MSA "no mask" zero changes the output."""
    block, res = exported("swmsa-7x9-pad", tmp_path_factory)
    model = onnx.load(res.path)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "no_mask"))
    model.graph.node[0].input[6] = "no_mask"
    path = res.path.with_name("nomask.onnx")
    onnx.save(model, path)
    x = torch.randn(2, *block.feat_size, block.dim)
    with torch.no_grad():
        ref = block(x).numpy()
    assert rel_err(ort_run(path, x), ref) > 1e-2


def test_static_batch_8(tmp_path):
    block = make_block(feat=(7, 9), shift=True, seed=3)
    res = export_onnx(block, tmp_path / "b8.onnx", batch=8)
    assert res.report["inputs"][0]["shape"] == [8, 7, 9, 32]
    x = torch.randn(8, 7, 9, 32)
    with torch.no_grad():
        ref = block(x).numpy()
    assert rel_err(ort_run(res.path, x), ref) < 1e-4
