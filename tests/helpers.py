"""What several test folders share: small data the tests make themselves (no download, no ImageNet), skip marks."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edge_swin.data.arrays import ArrayImageDataset

HAS_TRTRTX = importlib.util.find_spec("tensorrt_rtx") is not None
needs_trtrtx = pytest.mark.skipif(not HAS_TRTRTX, reason="tensorrt_rtx is not importable (pip install tensorrt-rtx-cu13)")


def make_image_folder(root: Path, classes=("cat", "dog", "fox"), per_class: int = 6, size: int = 40, seed: int = 0) -> Path:
    """root/train/<class>/*.png and root/val/<class>/*.png; each class a different mean colour, so it is learnable."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", max(2, per_class // 2))):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = np.zeros((size, size, 3)) + 60 + 60 * c
                image = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


def tensor_dataset(n: int = 32, num_classes: int = 4, size: int = 32, seed: int = 0):
    """An ImageFolder-like dataset of ready tensors (no PIL), with `targets` and `classes`."""
    gen = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % num_classes
    images = torch.randn(n, 3, size, size, generator=gen) + targets.view(-1, 1, 1, 1).float()

    class _Set(torch.utils.data.Dataset):
        classes = [f"c{i}" for i in range(num_classes)]

        def __init__(self):
            self.targets = targets.tolist()

        def __len__(self):
            return n

        def __getitem__(self, i):
            return images[i], int(targets[i])

    return _Set()


def array_dataset(n: int = 20, size: int = 28, num_classes: int = 5) -> ArrayImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return ArrayImageDataset(images, np.arange(n) % num_classes, [f"k{i}" for i in range(num_classes)])


def force_int8_drop(monkeypatch, points: float = 5.0) -> None:
    """The INT8 accuracy report measures `points` of top-1 lost, whatever the model: a failing drop check on demand.

    --max-drop takes numbers >= 0, so a test cannot ask for an impossible limit; it makes the drop instead.
    """
    import edge_swin.quant as quant

    measured = quant.accuracy_report

    def lost(*args, **kwargs):
        report = measured(*args, **kwargs)
        fp32, int8 = report["models"]["fp32"], report["models"][report["checked"]]
        int8["top1"], int8["top1_drop"] = fp32["top1"] - points, points
        report["passed"] = points <= report["max_drop"]
        return report

    monkeypatch.setattr(quant, "accuracy_report", lost)
