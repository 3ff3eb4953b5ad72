"""Fixtures for the runtime tests: one seeded swin_nano, its INT8 (max-calibrated) twin, a few images.

The runtime's ops run the plugin's Triton kernels under Triton's interpreter here (tests/conftest.py sets
TRITON_INTERPRET=1 before triton imports): correct indexing and arithmetic, not GPU speed.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10


@pytest.fixture(scope="session")
def nano():
    """FP32 swin_nano with weights large enough that every part of a block moves the logits.

    The training init (std 0.02) leaves attention nearly uniform and the relative-position bias nearly zero,
    so a wrong bias, mask or shift in the runtime would hide under the tolerance: here matrices get std
    1/sqrt(fan_in) and the bias tables std 1.
    """
    from edge_swin.models import create_swin

    torch.manual_seed(0)
    model = create_swin("swin_nano", num_classes=NUM_CLASSES).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
    return model


@pytest.fixture(scope="session")
def nano_int8(nano):
    """The swin_int8 placement on a copy of `nano`, max-calibrated on 16 seeded images (modelopt fake quant)."""
    import edge_swin.quant as quant

    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(images, torch.zeros(16, dtype=torch.long)), batch_size=16)
    return quant.calibrate(copy.deepcopy(nano), loader, "max", progress=False).model.eval()


@pytest.fixture(scope="session")
def images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))


def fp8_config() -> dict:
    """The swin_fp8 recipe's config where edge_swin.quant has it, else modelopt's FP8_DEFAULT_CFG quantizer settings
    (E4M3, per tensor, weights too) on the swin_int8 placement: what the FP8 runtime takes."""
    from edge_swin.quant.config import RECIPES, get_recipe

    if "swin_fp8" in RECIPES:
        return get_recipe("swin_fp8").config("max")
    config = get_recipe("swin_int8").config("max")
    fp8 = {"num_bits": (4, 3), "axis": None, "calibrator": "max"}
    return {**config, "quant_cfg": [{**e, "cfg": dict(fp8)} if "cfg" in e else e for e in config["quant_cfg"]]}


@pytest.fixture(scope="session")
def nano_fp8(nano):
    """The FP8 E4M3 twin of nano_int8 (same placement, same 16 calibration images, modelopt fake quant)."""
    import edge_swin.quant as quant

    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(images, torch.zeros(16, dtype=torch.long)), batch_size=16)
    return quant.calibrate(copy.deepcopy(nano), loader, "max", config=fp8_config(), progress=False).model.eval()
