"""Fixtures for the INT8 tests: a seeded swin_nano (32 px, 10 classes), small synthetic sets, one calibration."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10


def labelled(n: int, seed: int) -> TensorDataset:
    """n random 32x32 images with balanced labels, carrying `.targets` and `.classes` like an ImageFolder."""
    gen = torch.Generator().manual_seed(seed)
    ds = TensorDataset(torch.randn(n, 3, 32, 32, generator=gen), torch.arange(n) % NUM_CLASSES)
    ds.targets = ds.tensors[1].tolist()
    ds.classes = [f"c{i}" for i in range(NUM_CLASSES)]
    return ds


@pytest.fixture(scope="session")
def quant():
    import edge_swin.quant as q  # modelopt's import is slow (seconds): once per session

    return q


@pytest.fixture(scope="session")
def fp32_model():
    """The FP32 reference; tests copy it (copy.deepcopy) before changing anything."""
    from edge_swin.models import create_swin

    torch.manual_seed(0)
    return create_swin("swin_nano", num_classes=NUM_CLASSES).eval()


@pytest.fixture
def fp32(fp32_model):
    return copy.deepcopy(fp32_model)


@pytest.fixture(scope="session")
def train_set():
    return labelled(64, seed=1)


@pytest.fixture(scope="session")
def val_set():
    return labelled(20, seed=2)


@pytest.fixture(scope="session")
def images():
    return torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="session")
def calibrated(quant, fp32_model, train_set, tmp_path_factory):
    """A CalibrationResult: max calibration on 16 images of `train_set`, cached to a temporary folder."""
    loader, calib_set = quant.calibration_loader(train_set, size=16, seed=0, batch_size=16)
    model = copy.deepcopy(fp32_model)
    return quant.calibrate(model, loader, "max", cache_dir=tmp_path_factory.mktemp("calib"), calib_set=calib_set,
                           progress=False)


@pytest.fixture
def ptq(calibrated):
    """A fresh copy of the calibrated (PTQ) model."""
    return copy.deepcopy(calibrated.model).eval()


@pytest.fixture
def val_loader(val_set):
    return DataLoader(val_set, batch_size=20, shuffle=False)
