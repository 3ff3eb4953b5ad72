"""Models the op cannot represent fail export with the block's name and the reason."""
from __future__ import annotations

import pytest

from edge_swin.export import ExportError, export_onnx

from tests.export.helpers import make_block, make_model


def test_window_larger_than_map_names_block(tmp_path):
    model = make_model("swin_nano")
    block = model.layers[1].blocks[0].attn          # 4x4 map
    block.window_size = (8, 8)                      # as if built without fit_window
    with pytest.raises(ExportError, match=r"layers\.1\.blocks\.0\.attn: window 8x8 is larger than the 4x4 feature map"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("opset,body", [(16, "matmul"), (24, "matmul"), (18, "attention23")])
def test_unsupported_opset(tmp_path, opset, body):
    with pytest.raises(ExportError, match=rf"opset {opset} is not supported.*first block: layers\.0\.blocks\.0\.attn"):
        export_onnx(make_model("swin_nano"), tmp_path / "m.onnx", opset=opset, attention_body=body)


def test_shift_mask_missing_names_block(tmp_path):
    block = make_block(feat=(8, 8), shift=True)
    block.attn_mask = None
    with pytest.raises(ExportError, match=r"WindowAttention: SW-MSA \(shift 2x2\) needs a shift mask"):
        export_onnx(block, tmp_path / "b.onnx")


def test_int8_needs_a_quantized_model(tmp_path):
    with pytest.raises(ExportError, match="precision 'int8' needs a modelopt-quantized"):
        export_onnx(make_block(), tmp_path / "b.onnx", precision="int8")


def test_unknown_body(tmp_path):
    with pytest.raises(ExportError, match="unknown attention body 'flash'"):
        export_onnx(make_block(), tmp_path / "b.onnx", attention_body="flash")
