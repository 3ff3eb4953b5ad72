"""save_quantized / load_quantized (mto.save / mto.restore): round trips to identical outputs."""
from __future__ import annotations

import copy
import json

import modelopt.torch.opt as mto
import pytest
import torch

from edge_swin.models import create_swin


def test_save_restore_round_trips_to_identical_outputs(quant, ptq, images, tmp_path):
    path = quant.save_quantized(ptq, tmp_path / "int8.pth", metadata={"stage": "ptq"})
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["variant"] == "swin_nano_patch4_window4_32" and meta["stage"] == "ptq"
    with torch.no_grad():
        expected = ptq(images)
        # rebuilt from the sidecar alone
        assert torch.equal(quant.load_quantized(path)(images), expected)
        # plain modelopt, as export will do it (edge_swin.quant imported = QuantWindowAttention registered)
        plain = mto.restore(create_swin("swin_nano", num_classes=10), path).eval()
        assert torch.equal(plain(images), expected)
    restored = quant.load_quantized(path)
    a, b = quant.amax_state(ptq), quant.amax_state(restored)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert isinstance(restored.layers[0].blocks[0].attn, quant.QuantWindowAttention)


def test_the_calibration_cache_is_an_int8_checkpoint(quant, calibrated, images):
    meta = json.loads(calibrated.path.with_suffix(".json").read_text())
    assert meta["stage"] == "calibration" and meta["key"] == calibrated.key and meta["config_name"] == "swin_int8"
    with torch.no_grad():
        assert torch.equal(quant.load_quantized(calibrated.path)(images), calibrated.model(images))


def test_qat_epoch_checkpoint_restores_the_student(quant, calibrated, fp32_model, train_set, images, tmp_path):
    from torch.utils.data import DataLoader

    student = copy.deepcopy(calibrated.model)
    loader = DataLoader(train_set, batch_size=16, shuffle=False)
    result = quant.qat_finetune(student, fp32_model, loader, quant.QATConfig(epochs=1, lr=1e-4, max_steps_per_epoch=1),
                                checkpoint_dir=tmp_path)
    restored = quant.load_quantized(result.checkpoint, create_swin("swin_nano", num_classes=10))
    with torch.no_grad():
        assert torch.equal(restored(images), student.eval()(images))


def test_load_errors_name_the_fix(quant, ptq, tmp_path):
    with pytest.raises(quant.QuantizationError, match="no INT8 checkpoint"):
        quant.load_quantized(tmp_path / "missing.pth")
    path = quant.save_quantized(ptq, tmp_path / "int8.pth")
    with pytest.raises(quant.QuantizationError, match="num_classes"):
        quant.load_quantized(path, create_swin("swin_nano", num_classes=5))
    with pytest.raises(quant.QuantizationError, match="calibrate it first"):
        quant.save_quantized(create_swin("swin_nano", num_classes=10), tmp_path / "fp32.pth")
