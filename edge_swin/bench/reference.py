"""The fixed small model and data the regression tests and baselines use: made here, deterministic, in seconds.

swin_nano (32x32) trained for STEPS steps on a seeded synthetic 4-class set: each class is a different
oriented stripe pattern under heavy noise, so a healthy model scores well below 100% and a damaged one
drops visibly. Same seed, same threads, same torch -> same weights; across CPUs the rounding differs
slightly, which the regression tolerances absorb.
"""
from __future__ import annotations

import math

import torch

ARCH = "swin_nano"
IMG = 32
CLASSES = 4
STEPS = 50
BATCH = 64
NOISE = 3.0


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    yy, xx = torch.meshgrid(torch.arange(IMG).float(), torch.arange(IMG).float(), indexing="ij")
    angles = torch.tensor([k * math.pi / CLASSES for k in range(CLASSES)])
    phase = torch.rand(n, generator=g) * 2 * math.pi
    a = angles[labels].view(-1, 1, 1)
    stripes = torch.sin((xx * torch.cos(a) + yy * torch.sin(a)) * (2 * math.pi / 8) + phase.view(-1, 1, 1))
    images = stripes.unsqueeze(1).expand(n, 3, IMG, IMG) + NOISE * torch.randn(n, 3, IMG, IMG, generator=g)
    return images.contiguous(), labels


def reference_model(seed: int = 0, steps: int = STEPS) -> torch.nn.Module:
    from edge_swin.models import create_swin

    torch.manual_seed(seed)
    model = create_swin(ARCH, num_classes=CLASSES)
    images, labels = synthetic(steps * BATCH, seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    model.train()
    for i in range(steps):
        x, y = images[i * BATCH:(i + 1) * BATCH], labels[i * BATCH:(i + 1) * BATCH]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def reference_data(n: int = 256, seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic(n, seed)


def corrupt(model: torch.nn.Module, scale: float = 2.0, seed: int = 0) -> torch.nn.Module:
    """A copy with noise (scale x each weight's std) added to every Linear weight: an injected regression."""
    import copy

    bad = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in bad.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.add_(torch.randn(m.weight.shape, generator=g) * m.weight.std() * scale)
    return bad
