"""Distillation loss and QAT: a step lowers the loss on a fixed batch; interrupted runs resume exactly."""
from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from edge_swin.errors import EdgeSwinError


def test_distillation_loss_terms(quant):
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 10), torch.randn(6, 10), torch.arange(6)
    same = quant.distillation_loss(t, t, y, temperature=3.0, alpha=1.0)
    assert same.kd.abs() < 1e-6 and same.total.abs() < 1e-6
    only_ce = quant.distillation_loss(s, t, y, alpha=0.0)
    assert torch.allclose(only_ce.total, F.cross_entropy(s, y))
    terms = quant.distillation_loss(s, t, y, temperature=2.0, alpha=0.25)
    kl = F.kl_div(F.log_softmax(s / 2, -1), F.softmax(t / 2, -1), reduction="batchmean") * 4
    assert torch.allclose(terms.kd, kl, atol=1e-6)
    assert torch.allclose(terms.total, 0.25 * kl + 0.75 * F.cross_entropy(s, y), atol=1e-6)
    with pytest.raises(ValueError):
        quant.distillation_loss(s, t, y, temperature=0.0)


def test_a_qat_step_lowers_the_distillation_loss(quant, ptq, fp32_model, train_set):
    images, targets = train_set.tensors[0][:16], train_set.tensors[1][:16]
    loss_fn = quant.DistillationLoss(temperature=2.0, alpha=0.5)
    ptq.eval()  # no drop-path noise: the change in loss is the step's doing

    def loss():
        with torch.no_grad():
            return loss_fn(ptq(images), fp32_model(images), targets).total.item()

    before = loss()
    scales = quant.amax_state(ptq)
    optimizer = torch.optim.AdamW(ptq.parameters(), lr=1e-3)
    terms = quant.qat_step(ptq, fp32_model, images, targets, optimizer, loss_fn, clip_grad=1.0)
    assert terms["loss"] == pytest.approx(before, rel=1e-5)
    assert loss() < before
    # scales stay fixed during QAT: only weights move
    after = quant.amax_state(ptq)
    assert all(torch.equal(scales[k], after[k]) for k in scales if not k.endswith("weight_quantizer"))


def _loader(train_set):
    return DataLoader(train_set, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))


def test_qat_resumes_where_it_stopped(quant, calibrated, fp32_model, train_set, tmp_path):
    config = quant.QATConfig(epochs=2, lr=1e-4, max_steps_per_epoch=1, seed=0)
    teacher = copy.deepcopy(fp32_model)

    full = copy.deepcopy(calibrated.model)
    done = quant.qat_finetune(full, teacher, _loader(train_set), config, checkpoint_dir=tmp_path / "full")
    assert [r["epoch"] for r in done.history] == [1, 2] and done.checkpoint.name == "epoch_002.pth"

    class Stop(Exception):
        pass

    def stop_in_second_epoch(epoch, step):
        if epoch == 1:  # after the second epoch's step, before its checkpoint
            raise Stop

    part = copy.deepcopy(calibrated.model)
    with pytest.raises(Stop):
        quant.qat_finetune(part, teacher, _loader(train_set), config, checkpoint_dir=tmp_path / "part",
                           on_step=stop_in_second_epoch)
    resumed_student = copy.deepcopy(calibrated.model)
    resumed = quant.qat_finetune(resumed_student, teacher, _loader(train_set), config, checkpoint_dir=tmp_path / "part")
    assert resumed.resumed_from_epoch == 1
    losses = lambda result: [(r["epoch"], r["loss"], r["kd"], r["ce"]) for r in result.history]  # noqa: E731
    assert losses(resumed) == losses(done)
    a, b = full.state_dict(), resumed_student.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # settings that change the result refuse to resume, naming the fix
    with pytest.raises(quant.QuantizationError, match="settings changed"):
        quant.qat_finetune(copy.deepcopy(calibrated.model), teacher, _loader(train_set),
                           quant.QATConfig(epochs=2, lr=2e-4, max_steps_per_epoch=1), checkpoint_dir=tmp_path / "part")
    # and so does a different starting model
    other = copy.deepcopy(calibrated.model)
    with torch.no_grad():
        other.head.fc.bias.add_(1.0)
    with pytest.raises(quant.QuantizationError, match="different calibrated model"):
        quant.qat_finetune(other, teacher, _loader(train_set), config, checkpoint_dir=tmp_path / "part")
    # and so does other data (what the caller says the result depends on)
    with pytest.raises(quant.QuantizationError, match=re.escape("trained on other inputs (data: was <absent>, now other")):
        quant.qat_finetune(copy.deepcopy(calibrated.model), teacher, _loader(train_set), config,
                           checkpoint_dir=tmp_path / "part", inputs={"data": "other"})
    # a bit flipped in the epoch checkpoint is named, not trained on (torch.load checks no CRC)
    epoch_file = tmp_path / "part" / "epoch_002.pth"  # the one part/last.pth resumes from
    data = bytearray(epoch_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    epoch_file.write_bytes(bytes(data))
    with pytest.raises(EdgeSwinError, match=re.escape(f"{epoch_file} is corrupted")):
        quant.qat_finetune(copy.deepcopy(calibrated.model), teacher, _loader(train_set), config,
                           checkpoint_dir=tmp_path / "part")


def test_qat_needs_a_quantized_student(quant, fp32_model, train_set):
    with pytest.raises(quant.QuantizationError, match="calibrate"):
        quant.qat_finetune(copy.deepcopy(fp32_model), fp32_model, _loader(train_set))
