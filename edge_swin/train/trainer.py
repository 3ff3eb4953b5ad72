"""Train from scratch or fine-tune: AdamW, cosine with warm-up, label smoothing, clipping, per-epoch checkpoints.

Runs in one process or data-parallel under torchrun (DDP): `batch_size` is the
global batch whatever the world size, split across ranks and `accum_steps`
micro-batches (`edge_swin.train.batches`), so N processes take the same
optimiser steps one process does. Each epoch reseeds the data order and every
image's augmentation from (seed, epoch[, image]), so a run resumed from the
checkpoint of its last finished epoch, with any world size, continues as the
uninterrupted run would have. Rank 0 alone writes the checkpoint.

In-memory data with a batch recipe (the embedded dataset) is served as whole
batches in torch (`edge_swin.data.batches.index_loader`) for the same index
lists, with the same per-image seeding; other data through a DataLoader.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from edge_swin.data import index_loader
from edge_swin.errors import CheckpointError, EdgeSwinError
from edge_swin.eval.sharded import evaluate_sharded
from edge_swin.utils import distributed
from edge_swin.train.batches import GlobalBatches, IndexBatches, SeededSamples
from edge_swin.train.mixing import batch_mixer, per_sample_loss
from edge_swin.train.optim import cosine_with_warmup, create_optimizer
from edge_swin.train.precision import autocast, grad_scaler, resolve_precision
from edge_swin.utils.io import load_torch, save_torch
from edge_swin.utils.changes import describe_changes
from edge_swin.utils.progress import progress, write

LAST = "last.pth"
# Config fields that may change between an interrupted run and its resumption (the world size is not one:
# batch_size is global, so a run resumes on any number of processes).
RESUMABLE_CHANGES = {"device", "num_workers", "precision", "accum_steps"}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 128  # global: summed over ranks and accumulation steps
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    clip_grad: float | None = 5.0
    seed: int = 0
    device: str = field(default_factory=default_device)
    num_workers: int = 0
    precision: str = "auto"  # auto: bf16 on GPUs that have it, fp16 + grad scaling on older ones, fp32 on a CPU
    accum_steps: int = 1
    mixup: float = 0.0  # Mixup alpha (Swin fine-tuning: 0.8); 0 = off
    cutmix: float = 0.0  # CutMix alpha (Swin fine-tuning: 1.0); 0 = off


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int = 0
    seconds: float = 0.0

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def epoch_seed(config: TrainConfig, epoch: int) -> int:
    return config.seed * 1_000_003 + epoch


def check_batch_split(config: TrainConfig, world_size: int) -> None:
    parts = world_size * config.accum_steps
    if config.accum_steps < 1:
        raise EdgeSwinError(f"accum_steps must be >= 1, got {config.accum_steps}")
    if config.batch_size % parts:
        raise EdgeSwinError(f"batch size {config.batch_size} (global) does not split into {world_size} process(es) x "
                            f"{config.accum_steps} accumulation step(s): choose a multiple of {parts}")


def train(
    model: nn.Module,
    train_set,
    val_set,
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    inputs: dict | None = None,
) -> TrainResult:
    """Train `model` in place; `out_dir/last.pth` holds everything needed to resume after any epoch.

    inputs: what else decides the result besides `config` (the data's fingerprint, the starting weights' hash):
    recorded in the checkpoint, and a resume whose inputs differ is refused with the difference named.

    on_step(epoch, step) is called after every optimiser step (progress hooks; tests use it to interrupt).
    Under torchrun every rank calls this with the same arguments.
    """
    out_dir = Path(out_dir)
    world, rank = distributed.world_size(), distributed.rank()
    check_batch_split(config, world)
    precision = resolve_precision(config.precision, config.device)
    if distributed.is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    model.to(device)
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    optimizer = create_optimizer(model, config.lr, config.weight_decay)
    scheduler = cosine_with_warmup(optimizer, config.epochs * steps_per_epoch,
                                   max(1, int(config.warmup_epochs * steps_per_epoch)), config.min_lr_ratio)
    scaler = grad_scaler(precision, device)
    mixer = batch_mixer(config.mixup, config.cutmix, len(train_set.classes)) if config.mixup or config.cutmix else None
    # DDP averages gradients over ranks; per-sample losses are summed and divided by the global batch, times world.
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world > 1 \
        else model
    seeded = SeededSamples(train_set)

    result = TrainResult()
    start_epoch = 0
    if resume and (out_dir / LAST).is_file():
        start_epoch, result.history = _restore(out_dir / LAST, model, optimizer, scheduler, scaler, config, inputs)
        result.resumed_from_epoch = start_epoch
        print(f"resuming from {out_dir / LAST}: {start_epoch} of {config.epochs} epochs done")

    started = time.perf_counter()
    hint = (f"The last complete checkpoint is {out_dir / LAST}; rerun the same command with --resume "
            "(on any number of processes) to continue from it.")
    with distributed.peer_loss_stops_cleanly(hint):
        for epoch in range(start_epoch, config.epochs):
            seed = epoch_seed(config, epoch)
            torch.manual_seed(seed + rank)  # dropout / drop-path / mixup draws: per rank, reproducible
            seeded.epoch_seed = seed
            batches = GlobalBatches(len(train_set), config.batch_size, seed, world, rank, config.accum_steps)
            schedule = batches.schedule()
            # In-memory data with a batch recipe: whole batches in torch, augmented per image from (seed, index).
            loader = index_loader(seeded, IndexBatches(schedule), config.num_workers)
            model.train()
            tic, loss_sum, seen = time.perf_counter(), 0.0, 0
            micro = iter(zip(schedule, loader))
            bar = progress(range(len(batches)), desc=f"epoch {epoch + 1}/{config.epochs}", unit="step", leave=False)
            for step in bar:
                scale = world / batches.global_count(step)
                step_loss = 0.0
                for a in range(config.accum_steps):
                    mb, (images, labels) = next(micro)
                    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                    if mixer is not None:
                        images, labels = mixer(images, labels)
                    weights = torch.zeros(len(mb.indices), device=device)
                    weights[:mb.real] = 1.0
                    # DDP all-reduces only on the last micro-batch of a step.
                    sync = contextlib.nullcontext() if world == 1 or a == config.accum_steps - 1 else net.no_sync()
                    with sync:
                        with autocast(precision, device):
                            logits = net(images)
                        loss = (per_sample_loss(logits, labels, config.label_smoothing) * weights).sum()
                        scaler.scale(loss * scale).backward()
                    step_loss += loss.item()
                scaler.unscale_(optimizer)
                if config.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                loss_sum += step_loss
                seen += sum(mb.real for mb in schedule[step * config.accum_steps:(step + 1) * config.accum_steps])
                bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                if on_step is not None:
                    on_step(epoch, step)
            bar.close()
            train_seconds = time.perf_counter() - tic
            loss_sum, seen = distributed.all_reduce_sum([loss_sum, seen], device)
            metrics = evaluate_sharded(model, val_set, max(1, 2 * config.batch_size // world), config.device, config.num_workers,
                                       desc=f"val {epoch + 1}")
            record = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "val_top1": metrics["top1"],
                      "val_top5": metrics["top5"], "val_loss": metrics["loss"], "lr": scheduler.get_last_lr()[0],
                      "train_seconds": round(train_seconds, 2), "images_per_second": round(seen / train_seconds, 1),
                      "processes": world, "precision": precision}
            result.history.append(record)
            write(f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.4f}  "
                  f"val top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  ({train_seconds:.0f} s)")
            if distributed.is_main():
                save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch + 1,
                            "history": result.history, "config": asdict(config), "inputs": inputs}, out_dir / LAST)
            distributed.barrier()  # no rank starts the next epoch before this one's checkpoint is complete
    result.seconds = time.perf_counter() - started
    return result


def _restore(path: Path, model, optimizer, scheduler, scaler, config: TrainConfig,
             inputs: dict | None) -> tuple[int, list[dict]]:
    fix = f"delete {path} and rerun to start training over"
    try:
        state = load_torch(path, fix)
    except EdgeSwinError:
        raise
    except Exception as err:
        raise CheckpointError(f"cannot resume: {path} is unreadable ({type(err).__name__}). Delete it to start over.") from None
    saved = state.get("config", {})
    changed = {k: (saved.get(k), v) for k, v in asdict(config).items()
               if k not in RESUMABLE_CHANGES and k in saved and saved.get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in changed.items())
        raise EdgeSwinError(f"cannot resume from {path}: the training settings changed ({detail}). "
                            "Rerun with the checkpoint's settings, or drop --resume to train from scratch.")
    if inputs is not None and state.get("inputs") != inputs:
        detail = describe_changes(state.get("inputs") or {}, inputs)
        raise EdgeSwinError(f"cannot resume from {path}: it was trained on other inputs ({detail}). Rerun with the "
                            "data and starting weights it was trained on, or drop --resume to train from scratch.")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]), list(state["history"])
