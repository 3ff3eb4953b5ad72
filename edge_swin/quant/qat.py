"""Quantization-aware fine-tuning with knowledge distillation from the FP32 model.

The student is the calibrated fake-quantized model (`calibrate`); its scales
stay fixed and gradients pass the quantizers straight through (modelopt's
STE), so QAT moves the weights to where INT8 rounding hurts least. The
teacher is the FP32 model, frozen. AdamW with a small learning rate and a
per-step cosine decay, a few epochs.

After every epoch the student is written with `mto.save` to
`checkpoint_dir/epoch_NNN.pth`, then `checkpoint_dir/last.pth` records the
optimiser, scheduler, history and which epoch file is current (both writes
atomic, in that order: an interruption anywhere leaves a consistent pair).
With `resume=True` a rerun continues after the last finished epoch, and each
epoch reseeds the data order and dropout from (seed, epoch), so the resumed
run ends where the uninterrupted one would have.

Under torchrun (DDP) every rank calls `qat_finetune` with a loader over its
share of each global batch (`edge_swin.train.batches.RankBatches`); the
student is wrapped in DistributedDataParallel, rank 0 alone writes the
checkpoints. Mixed precision (`precision`) autocasts both models' forward
passes; fp16 adds gradient scaling.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import modelopt.torch.opt as mto
import torch
import torch.nn as nn
from modelopt.torch.quantization.utils import is_quantized
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from edge_swin.errors import CheckpointError, EdgeSwinError
from edge_swin.eval import evaluate
from edge_swin.quant.calibrate import model_digest
from edge_swin.quant.distill import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, DistillationLoss
from edge_swin.quant.errors import QuantizationError
from edge_swin.utils import distributed
from edge_swin.train.optim import param_groups
from edge_swin.train.precision import autocast, grad_scaler, resolve_precision
from edge_swin.utils.changes import describe_changes
from edge_swin.utils.io import atomic_path, load_torch, save_torch
from edge_swin.utils.progress import progress, write

LAST = "last.pth"
# Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"device", "precision"}


@dataclass
class QATConfig:
    epochs: int = 2
    lr: float = 1e-5
    min_lr: float = 1e-7
    weight_decay: float = 0.0
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA  # weight of the distillation term; 1 - alpha on the label loss
    label_smoothing: float = 0.0
    clip_grad: float | None = 1.0
    max_steps_per_epoch: int | None = None  # cap for smoke runs; None = whole loader
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"  # bf16 on GPUs that have it, fp16 + grad scaling on older ones, fp32 on a CPU


@dataclass
class QATResult:
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int = 0
    seconds: float = 0.0
    checkpoint: Path | None = None  # mto checkpoint of the final student

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def qat_step(student: nn.Module, teacher: nn.Module, images: torch.Tensor, targets: torch.Tensor,
             optimizer: torch.optim.Optimizer, loss_fn: DistillationLoss, clip_grad: float | None = None,
             precision: str = "fp32", scaler: torch.amp.GradScaler | None = None) -> dict:
    """One optimiser step of the student towards the teacher's logits and the labels; returns the loss terms.

    precision "bf16"/"fp16" autocasts both forward passes (the loss is computed in fp32); `scaler` scales fp16 gradients.
    """
    with autocast(precision, images.device):
        with torch.no_grad():
            teacher_logits = teacher(images)
        student_logits = student(images)
    terms = loss_fn(student_logits, teacher_logits, targets)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        terms.total.backward()
    else:
        scaler.scale(terms.total).backward()
        scaler.unscale_(optimizer)
    if clip_grad:
        nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return {"loss": terms.total.item(), "kd": terms.kd.item(), "ce": terms.ce.item()}


def create_qat_optimizer(student: nn.Module, config: QATConfig) -> torch.optim.AdamW:
    """AdamW over the student's weights (biases, norms and bias tables without decay); quantizer scales stay fixed."""
    return torch.optim.AdamW(param_groups(student, config.weight_decay), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)


def _epoch_seed(config: QATConfig, epoch: int) -> int:
    return config.seed * 1_000_003 + epoch


def qat_finetune(student: nn.Module, teacher: nn.Module, train_loader: DataLoader, config: QATConfig | None = None,
                 checkpoint_dir: str | Path | None = None, resume: bool = True, val_loader: DataLoader | None = None,
                 on_step: Callable[[int, int], None] | None = None, inputs: dict | None = None) -> QATResult:
    """Fine-tune the quantized `student` in place by distillation from the FP32 `teacher`.

    train_loader: labelled batches (shuffling is reseeded per epoch for exact resumption).
    checkpoint_dir: per-epoch mto checkpoints and the resume state; None keeps nothing on disk.
    val_loader: if given, top-1/top-5 of the student after each epoch go into the history.
    on_step(epoch, step): called after every optimiser step (progress hooks; tests interrupt with it).
    inputs: what else decides the result (e.g. the training data's fingerprint): recorded in the checkpoint, and a
    resume whose inputs differ is refused with the difference named.
    """
    config = config or QATConfig()
    if not is_quantized(student):
        raise QuantizationError("qat_finetune needs the calibrated INT8 model as student: run edge_swin.quant.calibrate first")
    if is_quantized(teacher):
        raise QuantizationError("the QAT teacher must be the FP32 model, not a quantized one")
    device = torch.device(config.device)
    precision = resolve_precision(config.precision, device)
    student.to(device)
    teacher.to(device).eval()  # run under no_grad in qat_step; its parameters are left as they are

    steps_per_epoch = len(train_loader)
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise QuantizationError("the QAT training loader is empty: give it a non-empty training set")
    optimizer = create_qat_optimizer(student, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs * steps_per_epoch),
                                                           eta_min=config.min_lr)
    loss_fn = DistillationLoss(config.temperature, config.alpha, config.label_smoothing)
    scaler = grad_scaler(precision, device)
    world = distributed.world_size()
    # Buffers (the quantizers' amax) are identical on every rank after calibration; DDP averages the gradients.
    net = DistributedDataParallel(student, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else student

    out_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    result = QATResult()
    start_epoch = 0
    # Digest of the model QAT starts from (the calibrated student): a checkpoint begun from another must not resume.
    start_digest = model_digest(student) if out_dir is not None else None
    if out_dir is not None and resume and (out_dir / LAST).is_file():
        start_epoch, result.history, result.checkpoint = _restore(out_dir, student, optimizer, scheduler, config,
                                                                  start_digest, inputs)
        result.resumed_from_epoch = start_epoch
        write(f"QAT: resuming from {out_dir / LAST}: {start_epoch} of {config.epochs} epochs done")

    started = time.perf_counter()
    hint = (f"The last complete QAT checkpoint is in {out_dir}; rerun with --resume to continue from it."
            if out_dir is not None else "QAT kept no checkpoint (no checkpoint_dir).")
    with distributed.peer_loss_stops_cleanly(hint):
        _epochs(net, student, teacher, train_loader, config, precision, scaler, optimizer, scheduler, loss_fn,
                steps_per_epoch, start_epoch, out_dir, {"start_digest": start_digest, "inputs": inputs}, val_loader, on_step, result)
    student.eval()
    result.seconds = time.perf_counter() - started
    return result


def _epochs(net, student, teacher, train_loader, config: QATConfig, precision, scaler, optimizer, scheduler, loss_fn,
            steps_per_epoch: int, start_epoch: int, out_dir: Path | None, start: dict, val_loader, on_step,
            result: QATResult) -> None:
    device = torch.device(config.device)
    for epoch in range(start_epoch, config.epochs):
        seed = _epoch_seed(config, epoch)
        torch.manual_seed(seed + distributed.rank())  # dropout / drop-path: per rank, reproducible
        if getattr(train_loader, "generator", None) is not None:
            train_loader.generator.manual_seed(seed)
        if hasattr(getattr(train_loader, "batch_sampler", None), "set_epoch"):
            train_loader.batch_sampler.set_epoch(seed)
        student.train()
        tic, sums, seen = time.perf_counter(), {"loss": 0.0, "kd": 0.0, "ce": 0.0}, 0
        bar = progress(total=steps_per_epoch, desc=f"QAT epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for step, (images, targets) in enumerate(train_loader):
            if step >= steps_per_epoch:
                break
            images, targets = images.to(device), targets.to(device)
            terms = qat_step(net, teacher, images, targets, optimizer, loss_fn, config.clip_grad, precision,
                             scaler if scaler.is_enabled() else None)
            scheduler.step()
            for k in sums:
                sums[k] += terms[k] * len(targets)
            seen += len(targets)
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}", kd=f"{sums['kd'] / seen:.4f}",
                            lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if on_step is not None:
                on_step(epoch, step)
        bar.close()
        seconds = time.perf_counter() - tic
        *totals, seen = distributed.all_reduce_sum([*sums.values(), seen], device)  # every rank's images
        sums = dict(zip(sums, totals))
        record = {"epoch": epoch + 1, **{k: v / max(seen, 1) for k, v in sums.items()}, "lr": scheduler.get_last_lr()[0],
                  "steps": steps_per_epoch, "seconds": round(seconds, 2)}
        if val_loader is not None:
            metrics = evaluate(student, val_loader, config.device, desc=f"QAT val {epoch + 1}")
            record.update(val_top1=metrics["top1"], val_top5=metrics["top5"], val_loss=metrics["loss"])
        result.history.append(record)
        write(f"QAT epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f} (kd {record['kd']:.4f}, "
              f"ce {record['ce']:.4f})" + (f", val top-1 {record['val_top1']:.2f}%" if val_loader is not None else "")
              + f" ({seconds:.0f} s)")
        if out_dir is not None:
            result.checkpoint = out_dir / f"epoch_{epoch + 1:03d}.pth"
            if distributed.is_main():
                _save(out_dir, epoch + 1, student, optimizer, scheduler, result.history, config, start)
            distributed.barrier()  # no rank goes on before the epoch's checkpoint is complete


def _save(out_dir: Path, epoch: int, student, optimizer, scheduler, history, config: QATConfig, start: dict) -> Path:
    """start: what the run began from ({"start_digest", "inputs"}), checked by a resume."""
    model_path = out_dir / f"epoch_{epoch:03d}.pth"
    with atomic_path(model_path, digest=True) as tmp:
        mto.save(student, tmp)
    save_torch({"epoch": epoch, "model_file": model_path.name, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "history": history, "config": asdict(config),
                **start}, out_dir / LAST)
    return model_path


def _restore(out_dir: Path, student, optimizer, scheduler, config: QATConfig,
             start_digest: str, inputs: dict | None) -> tuple[int, list[dict], Path]:
    path = out_dir / LAST
    fix = f"delete {out_dir} to start QAT over"
    try:
        state = load_torch(path, fix)
        model_path = out_dir / state["model_file"]
        weights = load_torch(model_path, fix)["model_state_dict"]
    except EdgeSwinError:
        raise
    except Exception as err:
        raise CheckpointError(f"cannot resume QAT from {out_dir} ({type(err).__name__}: {err}). "
                              f"Delete {out_dir} to start QAT over.") from None
    saved = state.get("config", {})
    changed = {k: (saved.get(k), v) for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES and saved.get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in changed.items())
        raise QuantizationError(f"cannot resume QAT from {path}: the settings changed ({detail}). "
                                f"Rerun with the checkpoint's settings, or delete {out_dir} to start QAT over.")
    if state.get("start_digest") != start_digest:
        raise QuantizationError(f"cannot resume QAT from {out_dir}: it was started from a different calibrated model "
                                f"(other weights, calibration set or method). Delete {out_dir}, or give this run its own "
                                "checkpoint directory.")
    if inputs is not None and state.get("inputs") != inputs:
        raise QuantizationError(f"cannot resume QAT from {path}: it was trained on other inputs "
                                f"({describe_changes(state.get('inputs') or {}, inputs)}). Rerun with the data it was "
                                f"trained on, or delete {out_dir} to start QAT over.")
    try:
        student.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"the QAT checkpoint {model_path} does not fit this model ({str(err)[:200]}). "
                              f"Delete {out_dir} to start QAT over.") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), list(state["history"]), model_path
