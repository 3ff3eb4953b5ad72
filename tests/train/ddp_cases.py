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


def datasets():
    return tensor_dataset(29), tensor_dataset(11, seed=1)
