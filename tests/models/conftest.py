"""Shared fixtures for tests/models: seeded weight randomisation, Microsoft-layout state dicts, error metric."""
from __future__ import annotations

import contextlib
import math
import re

import pytest
import torch
import torch.nn as nn


def randomize_weights_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Overwrite every parameter with seeded random values large enough to make each part of Swin matter.

    timm's own init (std 0.02 everywhere) leaves attention almost uniform and the
    relative-position bias almost zero, so a wrong bias index or a wrong window
    order would move the logits by less than a tolerance can tell apart. Here
    linear/conv weights get std 1/sqrt(fan_in), the bias tables std 1, norms a
    non-trivial affine map, so every one of them changes the output visibly.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("relative_position_bias_table"):
                values = torch.randn(p.shape, generator=gen)
            elif p.ndim >= 2:
                fan_in = p[0].numel()
                values = torch.randn(p.shape, generator=gen) / math.sqrt(fan_in)
            elif "norm" in name and name.endswith("weight"):
                values = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            else:  # biases, norm shifts
                values = 0.2 * torch.randn(p.shape, generator=gen)
            p.copy_(values)
    return model


def microsoft_state_dict(timm_model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict a timm Swin would have in Microsoft's official release, built without edge_swin.

    Microsoft's Swin puts patch merging at the END of stage i (timm: start of stage
    i+1), calls the classifier `head` (timm: `head.fc`), and saves the buffers
    `layers.i.blocks.j.attn.relative_position_index` (every block) and
    `layers.i.blocks.j.attn_mask` (shifted blocks only, [nW, N, N]) as persistent.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in timm_model.state_dict().items():
        m = re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key)
        if m:
            stage = int(m.group(1))
            assert stage >= 1, key  # timm never merges before stage 0
            key = f"layers.{stage - 1}.downsample.{m.group(2)}"
        elif key in ("head.fc.weight", "head.fc.bias"):
            key = "head." + key.rsplit(".", 1)[1]
        assert key not in out, key
        out[key] = value
    for name, buf in timm_model.named_buffers():
        if name.endswith(".attn.relative_position_index") or name.endswith(".attn_mask"):
            assert re.fullmatch(r"layers\.\d+\.blocks\.\d+\.(attn\.relative_position_index|attn_mask)", name), name
            out[name] = buf
    return out


@contextlib.contextmanager
def skipped_init():
    """Build models without their (slow) weight init: for models whose every parameter is overwritten next.

    Swin-B's trunc_normal_/kaiming init costs seconds on two cores; tests that
    randomise or NaN-fill all parameters right after construction don't need it.
    Buffers (relative_position_index, attn_mask) are still computed normally.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nn.Linear, "reset_parameters", lambda self: None)
        mp.setattr(nn.modules.conv._ConvNd, "reset_parameters", lambda self: None)
        mp.setattr(nn.init, "trunc_normal_", lambda tensor, *args, **kwargs: tensor)
        yield


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max|a - b| / max|b|."""
    return ((actual - expected).abs().max() / expected.abs().max()).item()


@pytest.fixture(scope="session")
def randomize_weights():
    return randomize_weights_


@pytest.fixture(scope="session")
def to_microsoft_layout():
    return microsoft_state_dict


@pytest.fixture(scope="session")
def no_init():
    return skipped_init


@pytest.fixture(scope="session")
def rel_err():
    return relative_error
