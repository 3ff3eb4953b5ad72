"""Train from scratch or fine-tune: AdamW, cosine with warm-up, label smoothing, clipping, per-epoch checkpoints.

Each epoch reseeds the data order and every random augmentation from
(seed, epoch), so a run resumed from the checkpoint of its last finished epoch
continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from edge_swin.data import data_loader
from edge_swin.errors import CheckpointError, EdgeSwinError
from edge_swin.eval import evaluate
from edge_swin.train.optim import cosine_with_warmup, create_optimizer
from edge_swin.utils.io import save_torch
from edge_swin.utils.progress import progress, write

LAST = "last.pth"
# Config fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"device", "num_workers"}


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    clip_grad: float | None = 5.0
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0


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


def train(
    model: nn.Module,
    train_set,
    val_set,
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train `model` in place; `out_dir/last.pth` holds everything needed to resume after any epoch.

    on_step(epoch, step) is called after every optimiser step (progress hooks; tests use it to interrupt).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    model.to(device)
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    optimizer = create_optimizer(model, config.lr, config.weight_decay)
    scheduler = cosine_with_warmup(optimizer, config.epochs * steps_per_epoch,
                                   max(1, int(config.warmup_epochs * steps_per_epoch)), config.min_lr_ratio)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    val_loader = data_loader(val_set, 2 * config.batch_size, num_workers=config.num_workers)

    result = TrainResult()
    start_epoch = 0
    if resume and (out_dir / LAST).is_file():
        start_epoch, result.history = _restore(out_dir / LAST, model, optimizer, scheduler, config)
        result.resumed_from_epoch = start_epoch
        print(f"resuming from {out_dir / LAST}: {start_epoch} of {config.epochs} epochs done")

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        torch.manual_seed(epoch_seed(config, epoch))
        order = torch.Generator().manual_seed(epoch_seed(config, epoch))
        loader = data_loader(train_set, config.batch_size, shuffle=True, generator=order, num_workers=config.num_workers)
        model.train()
        tic, loss_sum, seen = time.perf_counter(), 0.0, 0
        bar = progress(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for step, (images, labels) in enumerate(bar):
            images, labels = images.to(device), labels.to(device)
            loss = criterion(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            scheduler.step()
            loss_sum, seen = loss_sum + loss.item() * len(labels), seen + len(labels)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if on_step is not None:
                on_step(epoch, step)
        train_seconds = time.perf_counter() - tic
        metrics = evaluate(model, val_loader, config.device, desc=f"val {epoch + 1}")
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "val_top1": metrics["top1"],
                  "val_top5": metrics["top5"], "val_loss": metrics["loss"], "lr": scheduler.get_last_lr()[0],
                  "train_seconds": round(train_seconds, 2), "images_per_second": round(seen / train_seconds, 1)}
        result.history.append(record)
        write(f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.4f}  "
              f"val top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  ({train_seconds:.0f} s)")
        save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1, "history": result.history, "config": asdict(config)}, out_dir / LAST)
    result.seconds = time.perf_counter() - started
    return result


def _restore(path: Path, model, optimizer, scheduler, config: TrainConfig) -> tuple[int, list[dict]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot resume: {path} is unreadable ({type(err).__name__}). Delete it to start over.") from None
    saved = state.get("config", {})
    changed = {k: (saved.get(k), v) for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES and saved.get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in changed.items())
        raise EdgeSwinError(f"cannot resume from {path}: the training settings changed ({detail}). "
                            "Rerun with the checkpoint's settings, or drop --resume to train from scratch.")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), list(state["history"])
