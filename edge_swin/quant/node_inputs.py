"""A WindowAttention block (float or quantized) as the SwinWindowAttention node's inputs and attributes.

One function for everyone who feeds the node from a block, so they all feed it the same tensors: the exporter
(the node it emits), the PyTorch runtime's fused op (its buffers) and the node's CPU emulation. For a quantized
block the weights are quantize-dequantized per output channel (`fake_quant`: Q/DQ in the main graph while
exporting) and the eight scales of `block_scales` follow the mask, in the contract's order.
"""
from __future__ import annotations

import torch

from edge_swin.models.window_attention import WindowAttention
from edge_swin.plugins.swin_window_attention.contract import FUNCTION_VERSION
from edge_swin.quant.scales import QParams, fake_quant


def node_attributes(m: WindowAttention) -> dict:
    return {
        "num_heads": int(m.num_heads),
        "window_size": [int(v) for v in m.window_size],
        "shift_size": [int(v) for v in m.shift_size],
        "scale": float(m.scale),
        "version": FUNCTION_VERSION,
    }


def _raw_weight(linear: torch.nn.Module) -> torch.Tensor:
    """The Linear's weight parameter itself (a modelopt QuantLinear's `.weight` may be its quantized view)."""
    return linear._parameters["weight"] if "weight" in linear._parameters else linear.weight


def node_inputs(m: WindowAttention, x: torch.Tensor, scales: list[QParams] | None = None) -> list[torch.Tensor | None]:
    """The node's inputs in the function's order (see edge_swin.export.function); for W-MSA the mask is a [1, 1, 1] zero.

    scales: None (FP32/FP16), or the block's eight `QParams` (edge_swin.quant.scales.block_scales) for INT8.
    """
    dtype = x.dtype
    qkv_b = m.qkv.bias if m.qkv.bias is not None else torch.zeros(3 * m.dim, dtype=dtype)
    if m.attn_mask is not None:
        mask = m.attn_mask.to(dtype)
    else:
        mask = torch.zeros(1, 1, 1, dtype=dtype)
    qkv_w, proj_w = _raw_weight(m.qkv), _raw_weight(m.proj)
    if scales is not None:
        qkv_w, proj_w = fake_quant(qkv_w, scales[1]), fake_quant(proj_w, scales[7])  # fp16 in an FP16 graph
    inputs = [x, qkv_w, qkv_b, m.proj.bias, m.relative_position_bias().to(dtype), mask]
    inputs.insert(3, proj_w)
    if scales is not None:
        inputs += [p.scale.clone() for p in scales]
    return inputs
