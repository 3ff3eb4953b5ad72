"""Mixup / CutMix (torchvision.transforms.v2) and the soft-target loss they need.

Swin's fine-tuning recipe (microsoft/Swin-Transformer config defaults): mixup
alpha 0.8, cutmix alpha 1.0, one of the two per batch (switch prob 0.5),
label smoothing 0.1. Off (alpha 0) by default here: on the minutes-long
embedded demo they regularise more than a short schedule can use.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from edge_swin.errors import EdgeSwinError

SWIN_MIXUP, SWIN_CUTMIX = 0.8, 1.0


def batch_mixer(mixup: float, cutmix: float, num_classes: int):
    """A callable (images, labels) -> (mixed images, soft labels [B, C]), or None when both alphas are 0."""
    if mixup < 0 or cutmix < 0:
        raise EdgeSwinError(f"Mixup and CutMix alphas must be 0 (off) or more, got {mixup}, {cutmix}")
    parts = []
    if mixup > 0:
        parts.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix > 0:
        parts.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else v2.RandomChoice(parts)


def per_sample_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy of each sample, for class indices or soft labels (Mixup/CutMix), in fp32."""
    return F.cross_entropy(logits.float(), targets, reduction="none", label_smoothing=label_smoothing)
