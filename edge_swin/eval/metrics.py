"""Top-k accuracy of a classifier over a data loader."""
from __future__ import annotations

import torch
import torch.nn as nn

from edge_swin.utils.progress import progress


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks=(1, 5)) -> dict[int, int]:
    """Number of samples whose target is among the k highest logits, per k (k capped at the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hits = top == targets.unsqueeze(1)
    return {k: int(hits[:, :min(k, kmax)].any(dim=1).sum()) for k in ks}


@torch.no_grad()
def predict(model: nn.Module, loader, device: str = "cpu", desc: str = "predict") -> tuple[torch.Tensor, torch.Tensor]:
    """All logits and targets of a loader, in loader order (float32 on the CPU)."""
    model.eval()
    logits, targets = [], []
    for images, labels in progress(loader, desc=desc, unit="batch", leave=False):
        logits.append(model(images.to(device)).float().cpu())
        targets.append(labels)
    return torch.cat(logits), torch.cat(targets)


def accuracy_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    correct = topk_correct(logits, targets, (1, 5))
    n = len(targets)
    loss = nn.functional.cross_entropy(logits, targets).item()
    return {"top1": 100.0 * correct[1] / n, "top5": 100.0 * correct[5] / n, "loss": loss, "n": n}


def evaluate(model: nn.Module, loader, device: str = "cpu", desc: str = "evaluate") -> dict:
    """{'top1': %, 'top5': %, 'loss': mean cross-entropy, 'n': images} of `model` on `loader`."""
    return accuracy_from_logits(*predict(model, loader, device, desc))


def agreement(logits: torch.Tensor, reference: torch.Tensor) -> dict:
    """How closely two models' logits on the same images agree: same top-1 share (%) and mean cosine."""
    same = (logits.argmax(1) == reference.argmax(1)).float().mean().item() * 100.0
    cosine = nn.functional.cosine_similarity(logits, reference, dim=1).mean().item()
    return {"top1_agreement": same, "mean_cosine": cosine}
