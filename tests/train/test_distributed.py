"""torchrun (DDP, Gloo on the CPU): two processes train as one does, and a killed rank leaves a resumable run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_swin.train import TrainConfig, train
from edge_swin.train.batches import GlobalBatches, SeededSamples
from tests.train.ddp_cases import CONFIG, datasets, fresh_model

WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(nproc: int, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGE_SWIN_DIST_TIMEOUT": "60"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), str(WORKER), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    model = fresh_model()
    result = train(model, *datasets(), CONFIG, tmp_path_factory.mktemp("one"))
    return model.state_dict(), result.history


def assert_same_weights(expected: dict, got: dict) -> None:
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_global_batches_are_the_same_images_whatever_the_world_size():
    one = GlobalBatches(29, 8, seed=5)
    for world, accum in ((2, 1), (3, 1), (2, 2), (4, 2)):
        ranks = [GlobalBatches(29, 8, seed=5, world_size=world, rank=r, accum_steps=accum) for r in range(world)]
        assert all(len(r) == len(one) == 4 for r in ranks)
        for step in range(len(one)):
            parts = [mb for r in ranks for mb in r.micro_batches(step)]
            assert all(len(p.indices) >= 1 for p in parts)  # every rank joins every all-reduce
            counted = sorted(i for p in parts for i in p.indices[:p.real])
            assert counted == sorted(one.global_batch(step).tolist())  # each image once, nothing dropped
    assert GlobalBatches(29, 8, seed=5).order.tolist() != GlobalBatches(29, 8, seed=6).order.tolist()


def test_augmentation_depends_on_the_image_and_epoch_not_the_loading_order():
    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.rand(3)

    samples = SeededSamples(Noisy(), epoch_seed=7)
    forward = [samples[i] for i in range(4)]
    backward = [samples[i] for i in reversed(range(4))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    samples.epoch_seed = 8
    assert not torch.equal(samples[0], forward[0])


def test_batch_that_does_not_split_across_processes_fails_clearly(tmp_path):
    from edge_swin.errors import EdgeSwinError

    with pytest.raises(EdgeSwinError, match="choose a multiple of 3"):
        train(fresh_model(), *datasets(), TrainConfig(epochs=1, batch_size=8, accum_steps=3, device="cpu"), tmp_path)
    assert not (tmp_path / "last.pth").exists()


def test_accumulation_gives_the_one_step_result(one_process, tmp_path):
    model = fresh_model()
    train(model, *datasets(), TrainConfig(**{**CONFIG.__dict__, "accum_steps": 2}), tmp_path)
    assert_same_weights(one_process[0], model.state_dict())


@pytest.mark.slow
def test_two_processes_train_like_one_and_only_rank_0_writes(one_process, tmp_path):
    run = torchrun(2, tmp_path / "two")
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["final.pth", "last.pth", "last.pth.sha256"]
    saved = torch.load(tmp_path / "two" / "final.pth", weights_only=True)
    assert_same_weights(one_process[0], saved["model"])
    for one, two in zip(one_process[1], saved["history"]):
        assert two["processes"] == 2 and one["val_top1"] == two["val_top1"]
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
        assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-4)


@pytest.mark.slow
def test_two_processes_on_the_in_memory_batch_path_train_like_one(tmp_path):
    model = fresh_model()
    one = train(model, *datasets(in_memory=True), CONFIG, tmp_path / "one")
    run = torchrun(2, tmp_path / "two", "--in-memory")
    assert run.returncode == 0, run.stderr[-3000:]
    saved = torch.load(tmp_path / "two" / "final.pth", weights_only=True)
    # Same images, same crops and flips; only the gradient all-reduce sums in another order. AdamW turns that
    # float noise into up to ~2e-5 where a gradient is near zero; other augmentation would move weights ~1e-3.
    for name, value in model.state_dict().items():
        torch.testing.assert_close(saved["model"][name], value, rtol=1e-4, atol=1e-4, msg=name)
    for a, b in zip(one.history, saved["history"]):
        assert a["val_top1"] == b["val_top1"] and b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)


@pytest.mark.slow
def test_killed_rank_stops_the_run_and_resume_on_one_process_finishes_it(one_process, tmp_path):
    out = tmp_path / "killed"
    run = torchrun(2, out, "--kill-rank", 1)
    assert run.returncode != 0
    assert "Signal 9 (SIGKILL)" in run.stderr or "exitcode  : -9" in run.stderr, run.stderr[-3000:]
    assert torch.load(out / "last.pth", weights_only=True)["epoch"] == 1  # the last complete checkpoint
    assert not list(out.glob("*.partial")) and not (out / "final.pth").exists()
    model = fresh_model()  # another world size: one process
    result = train(model, *datasets(), CONFIG, out, resume=True)
    assert result.resumed_from_epoch == 1
    assert_same_weights(one_process[0], model.state_dict())
