"""A modelopt FP8 E4M3 block read as the FP8 node takes it: per-tensor scales (amax / 448) and e4m3 weight values.

modelopt's FP8_DEFAULT_CFG quantizes every tensor per tensor with num_bits (4, 3); the node's kernels take
scale = amax / 448 and the weights as torch.float8_e4m3fn values of w / w_scale.
"""
from __future__ import annotations

import torch

from edge_swin.plugins.swin_window_attention.contract import BLOCK_QUANTIZERS
from edge_swin.quant.scales import FP8_MAX as E4M3_MAX  # the E4M3 facts are written once, with the INT8 ones
from edge_swin.quant.scales import FP8_NUM_BITS as FP8_E4M3_BITS
from edge_swin.quant.scales import ZERO_AMAX


def _is_fp8(quantizer) -> bool:
    bits = getattr(quantizer, "num_bits", None)
    return isinstance(bits, (tuple, list)) and tuple(bits) == FP8_E4M3_BITS


def is_fp8_block(module) -> bool:
    """Whether a quantized WindowAttention's qkv input quantizer is FP8 E4M3 (modelopt num_bits (4, 3))."""
    return _is_fp8(getattr(getattr(module, "qkv", None), "input_quantizer", None))


def fp8_scale(q, name: str = "") -> torch.Tensor:
    """amax / 448 (one float32 value) of an enabled, calibrated, per-tensor FP8 E4M3 modelopt quantizer; ValueError
    naming it otherwise. modelopt treats amax <= 2**-24 as "all zero": scale 1 keeps such a tensor at 0 as well."""
    amax = getattr(q, "amax", None)
    if q is None or not q.is_enabled or not _is_fp8(q) or amax is None or amax.numel() != 1:
        raise ValueError(f"{name or 'quantizer'}: the FP8 kernels need it on, FP8 E4M3 (num_bits (4, 3)), per tensor "
                         "and calibrated; quantize with the FP8 placement (swin_fp8) and calibrate")
    amax = amax.detach().float().reshape(1).cpu()
    return torch.where(amax <= ZERO_AMAX, torch.ones_like(amax), amax / E4M3_MAX)


def fp8_scales_of(module) -> list[torch.Tensor]:
    """The FP8 node's eight scales (node inputs 7-14) of a calibrated FP8 block: fp8_scale of each quantizer of
    BLOCK_QUANTIZERS, in node order."""
    return [fp8_scale(module.get_submodule(path), path) for _, path, _ in BLOCK_QUANTIZERS]


def fp8_weight_values(layer, scale: torch.Tensor) -> torch.Tensor:
    """A Linear's (or Conv's) weight as the FP8 kernels take it: torch.float8_e4m3fn values of modelopt's own
    weight fake quant divided by its per-tensor scale (exact: the fake quant puts it on that grid)."""
    weight = layer._parameters["weight"] if "weight" in layer._parameters else layer.weight
    fake = layer.weight_quantizer(weight.detach().float()).cpu()
    return (fake * (1 / scale)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
