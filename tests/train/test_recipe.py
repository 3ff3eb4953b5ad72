"""Mixed precision and the fine-tuning recipe's pieces: what each flag selects, and that training runs with it."""
from __future__ import annotations

import pytest
import torch

from edge_swin.errors import EdgeSwinError
from edge_swin.train import TrainConfig, train
from edge_swin.train.mixing import batch_mixer, per_sample_loss
from edge_swin.train.precision import autocast, grad_scaler, resolve_precision
from tests.train.ddp_cases import datasets, fresh_model


def test_auto_precision_is_fp32_on_a_cpu_and_fp16_there_is_refused():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(EdgeSwinError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(EdgeSwinError, match="choose one of auto, bf16, fp16, fp32"):
        resolve_precision("int4", "cpu")
    assert not grad_scaler("bf16", "cpu").is_enabled() and grad_scaler("fp16", "cpu").is_enabled()


def test_bf16_autocast_runs_the_linears_in_bf16():
    layer = torch.nn.Linear(4, 4)
    with autocast("bf16", "cpu"):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert layer(torch.randn(2, 4)).dtype == torch.float32


def test_mixup_and_cutmix_give_soft_labels_the_loss_takes():
    assert batch_mixer(0.0, 0.0, 4) is None
    torch.manual_seed(0)
    images, labels = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    mixed, soft = batch_mixer(0.8, 1.0, 4)(images, labels)
    assert mixed.shape == images.shape and soft.shape == (6, 4)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    assert not torch.equal(mixed, images)
    loss = per_sample_loss(torch.randn(6, 4), soft, label_smoothing=0.1)
    assert loss.shape == (6,) and torch.isfinite(loss).all()


def test_training_in_bf16_with_mixup_and_accumulation_lowers_the_loss(tmp_path):
    config = TrainConfig(epochs=2, batch_size=8, lr=2e-3, seed=3, device="cpu", precision="bf16", accum_steps=2,
                         mixup=0.8, cutmix=1.0)
    result = train(fresh_model(), *datasets(), config, tmp_path)
    assert [h["precision"] for h in result.history] == ["bf16", "bf16"]
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    saved = torch.load(tmp_path / "last.pth", weights_only=True)["config"]
    assert saved["precision"] == "bf16" and saved["mixup"] == 0.8


def test_resume_may_change_precision_and_accumulation_but_not_the_recipe(tmp_path):
    base = TrainConfig(epochs=1, batch_size=8, seed=3, device="cpu", precision="fp32")
    train(fresh_model(), *datasets(), base, tmp_path)
    changed = TrainConfig(**{**base.__dict__, "precision": "bf16", "accum_steps": 2})
    assert train(fresh_model(), *datasets(), changed, tmp_path, resume=True).resumed_from_epoch == 1
    with pytest.raises(EdgeSwinError, match="mixup: checkpoint 0.0, now 0.8"):
        train(fresh_model(), *datasets(), TrainConfig(**{**base.__dict__, "mixup": 0.8}), tmp_path, resume=True)


def test_throughput_benchmark_times_each_precision(tmp_path):
    import json

    from benchmarks.train_throughput import main

    out = tmp_path / "throughput.json"
    assert main(["--arch", "swin_nano", "--device", "cpu", "--batch", "4", "--steps", "2", "--precisions", "fp32,bf16",
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"] and all(r["images_per_second"] > 0 for r in rows)
