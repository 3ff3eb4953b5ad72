"""The model, data and settings the one-process and torchrun runs of tests/train/test_distributed.py share."""
from __future__ import annotations

import torch

from edge_swin.models import create_swin
from edge_swin.train import TrainConfig
from tests.helpers import tensor_dataset

# 29 images in global batches of 8: the last step's 5 split 3 + 2 across two ranks (unequal shares weigh right).
CONFIG = TrainConfig(epochs=2, batch_size=8, lr=2e-3, warmup_epochs=0.5, seed=3, device="cpu", precision="fp32")


def fresh_model():
    torch.manual_seed(0)
    # No stochastic depth: its per-batch draws cannot be the same when a batch is split across processes.
    return create_swin("swin_nano", num_classes=4, drop_path_rate=0.0)


def datasets(in_memory: bool = False):
    """29 + 11 ready tensors; in_memory: uint8 images with batch recipes (the embedded dataset's whole-batch path,
    random crop and flip drawn per image)."""
    if not in_memory:
        return tensor_dataset(29), tensor_dataset(11, seed=1)
    import numpy as np

    from edge_swin.data import ArrayImageDataset
    from edge_swin.data.transforms import eval_batch_recipe, eval_transform, train_batch_recipe, train_transform

    def arrays(n, seed, transform, recipe):
        rng = np.random.default_rng(seed)
        targets = np.arange(n) % 4
        images = (rng.integers(0, 128, (n, 28, 28, 3)) + 32 * targets.reshape(-1, 1, 1, 1)).astype(np.uint8)
        return ArrayImageDataset(images, targets, ["a", "b", "c", "d"], transform, batch_recipe=recipe)

    return (arrays(29, 0, train_transform(32, "small"), train_batch_recipe(32, "small")),
            arrays(11, 1, eval_transform(32, 1.0), eval_batch_recipe(32, 1.0)))
