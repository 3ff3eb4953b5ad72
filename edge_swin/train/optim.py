"""AdamW with Swin's no-decay groups, and a per-step cosine schedule with linear warm-up."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

# Parameters Swin trains without weight decay: biases, norms, the relative-position bias table.
NO_DECAY_SUFFIXES = ("bias", "relative_position_bias_table")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(NO_DECAY_SUFFIXES) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def create_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.05) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def cosine_with_warmup(optimizer, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.01):
    """LambdaLR stepped once per optimiser step: linear 0->1 over warm-up, then cosine down to min_lr_ratio."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
