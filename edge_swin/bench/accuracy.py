"""Top-1 of a runner on fixed images, and its top-1 agreement with a reference (FP32 PyTorch) on the same images."""
from __future__ import annotations

import torch


def runner_logits(runner, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([runner.logits(images[i:i + batch]) for i in range(0, len(images), batch)])


def accuracy_numbers(logits: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None = None) -> dict:
    """{'top1': %, 'agreement': % same top-1 as `reference` (100 without one), 'n': images}."""
    pred = logits.argmax(1)
    out = {"top1": round(100.0 * (pred == labels).float().mean().item(), 3), "n": len(labels)}
    ref = reference.argmax(1) if reference is not None else pred
    out["agreement"] = round(100.0 * (pred == ref).float().mean().item(), 3)
    return out
