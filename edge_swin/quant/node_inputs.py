"""A WindowAttention block (float or quantized) as the SwinWindowAttention node's inputs and attributes.

One function for everyone who feeds the node from a block, so they all feed it the same tensors: the exporter
(the node it emits), the PyTorch runtime's fused op (its buffers), the node's emulation (`run_module`) and the
GPU harness's callers (`node_inputs_of`). For a quantized block the weights are quantize-dequantized per output
channel (`fake_quant`: Q/DQ in the main graph while exporting) and the eight scales of `block_scales` follow the
mask, in the contract's order; an FP8 block gives e4m3 weights and per-tensor scales (fp8_quantizers).
"""
from __future__ import annotations

import copy

import torch

from edge_swin.models.window_attention import WindowAttention
from edge_swin.plugins.swin_window_attention.contract import FUNCTION_VERSION
from edge_swin.quant.fp8_quantizers import fp8_scales_of, fp8_weight_values, is_fp8_block
from edge_swin.quant.scales import QParams, block_scales, fake_quant, is_quantized_model


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


def node_inputs_of(module, x: torch.Tensor, io: torch.dtype | None = None) -> tuple[list, dict]:
    """The node's inputs and attributes for `module` (a WindowAttention or modelopt's QuantWindowAttention).

    Built by the exporter's own `node_inputs`, so the node (emulated, or through the GPU harness) gets exactly what
    the ONNX node gets: for a quantized block the weights quantize-dequantized per output channel and the eight
    scales of `block_scales` (ScaleError if one is off or uncalibrated).
    io: the node's tensor dtype (inputs 0-6; the scales stay fp32); default fp16 (FP16 export) for a float
    module, fp32 (INT8 export of an FP32 graph) for a quantized one; fp16 for an INT8 node in an FP16 graph.
    """
    quantized = is_quantized_model(module)
    if quantized and is_fp8_block(module):
        if io not in (None, torch.float16):
            raise ValueError(f"io {io}: the FP8 node's io is float16")
        return fp8_node_inputs_of(module, x)
    io = io or (torch.float32 if quantized else torch.float16)
    # On the CPU, as the exporter does: its weight fake-quant keeps the scales on the CPU.
    cpu_module = module if all(p.device.type == "cpu" for p in module.parameters()) else copy.deepcopy(module).cpu()
    with torch.no_grad():
        inputs = node_inputs(cpu_module, x.detach().float().cpu(), block_scales(cpu_module) if quantized else None)
        tensors = [t.detach().to(device=x.device, dtype=io) for t in inputs[:7]]
        scales = [t.detach().to(device=x.device, dtype=torch.float32) for t in inputs[7:]]
    attrs = node_attributes(module)
    attrs.pop("version")
    attrs["int8_scales"] = scales or None
    return tensors, attrs


def fp8_node_inputs_of(module, x: torch.Tensor) -> tuple[list, dict]:
    """node_inputs_of for an FP8 block: fp16 tensors (the FP8 node's io), the weights as torch.float8_e4m3fn (the
    e4m3 values of modelopt's own weight fake quant divided by the per-tensor scale: the FP8 node's weight inputs),
    and the eight scales of fp8_scales_of."""
    scales = fp8_scales_of(module)

    with torch.no_grad():
        mask = module.attn_mask if module.attn_mask is not None else torch.zeros(1, 1, 1)
        qkv_b = module.qkv.bias if module.qkv.bias is not None else torch.zeros(3 * module.dim)
        tensors = [x, qkv_b, module.proj.bias, module.relative_position_bias(), mask]
        x, qkv_b, proj_b, rel_bias, mask = [t.detach().to(device=x.device, dtype=torch.float16) for t in tensors]
        qkv_w = fp8_weight_values(module.qkv, scales[1]).to(x.device)
        proj_w = fp8_weight_values(module.proj, scales[7]).to(x.device)
    attrs = node_attributes(module)
    attrs.pop("version")
    attrs["fp8_scales"] = [s.to(x.device) for s in scales]
    return [x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask], attrs


def run_module(module, x: torch.Tensor, io: torch.dtype | None = None) -> torch.Tensor:
    """`module`'s forward as one plugin node: emulate.run_node (the Triton kernels, JIT on a GPU or interpreted on
    a CPU) on the inputs the exporter would give it (see node_inputs_of).

    Compare with `module(x)`: FP16 kernels for a float WindowAttention, INT8 kernels for a calibrated
    QuantWindowAttention. The result has the node's io dtype.
    """
    from edge_swin.plugins.swin_window_attention.emulate import run_node  # the Triton kernels: only when run

    tensors, attrs = node_inputs_of(module, x, io)
    return run_node(*tensors, **attrs)
