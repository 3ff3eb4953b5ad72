"""The plugin's algorithm in Python: one SwinWindowAttention node through the same three kernel launches.

`run_node` checks a node's inputs and attributes as the ONNX node carries them (function.py's order, the
attributes as keywords) and runs the one launch sequence, `launch.run_node`, the C++ plugin's enqueue in
Python (README "Description"): qkv linear, window attention, proj linear. FP8 nodes (fp8_scales) run the INT8
node's launches with fp8 e4m3 for int8 (swin_qkv_fp8, swin_window_attention_fp8, swin_linear_fp8), fp16 io,
fp8 weights, every scale per tensor (modelopt FP8_DEFAULT_CFG; scale = amax / 448). The
kernels are the Triton ones of `edge_swin.plugins.swin_window_attention.kernels`, JIT-compiled on a GPU or run by Triton's
interpreter on CPU tensors (TRITON_INTERPRET=1 set before they are imported). So a comparison of
`run_module(block, x)` with `block(x)` proves the whole algorithm (index arithmetic, padding, shift,
INT8 arithmetic) without TensorRT, and on a GPU without the C++ plugin.

Mode: FP16 for 7-input nodes (the kernels take fp16 or fp32 io; the FP16 export's is fp16), INT8 when
the eight scales are given, with x's io: fp16 (an FP16+INT8 engine, or an INT8 export with an FP16 graph)
or fp32 (an FP32 graph with Q/DQ, which strongly typed TensorRT keeps in fp32). Scales are fp32 always.
"""
from __future__ import annotations

import copy

import torch

from edge_swin.plugins.swin_window_attention import launch
from edge_swin.plugins.swin_window_attention.contract import SCALE_INPUTS
from edge_swin.plugins.swin_window_attention.kernels.window_attention import HEAD_DIM, WINDOWS

NUM_SCALES = len(SCALE_INPUTS)  # qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w
FP8_E4M3_BITS = (4, 3)  # modelopt's num_bits of an FP8 E4M3 quantizer
E4M3_MAX = 448.0


def run_node(x: torch.Tensor, qkv_w: torch.Tensor, qkv_b: torch.Tensor, proj_w: torch.Tensor,
             proj_b: torch.Tensor, rel_bias: torch.Tensor, mask: torch.Tensor | None, *, num_heads: int,
             window_size, shift_size, scale: float, int8_scales=None, fp8_scales=None) -> torch.Tensor:
    """One node: inputs 0-6 (and 7-14 as `int8_scales` or `fp8_scales`, in node order) -> y [B, H, W, C] of x's dtype.

    fp8_scales: the FP8 node's eight scales, each one value (weights per tensor too); qkv_w and proj_w are then
    torch.float8_e4m3fn, the e4m3 values of w / w_scale (what modelopt's weight quantizer rounds them to).

    `mask` is not read for W-MSA (shift_size == (0, 0)); the node's [1, 1, 1] zero, None, anything goes.
    """
    B, H, W, C = x.shape
    window, shift = tuple(int(v) for v in window_size), tuple(int(v) for v in shift_size)
    if C != num_heads * HEAD_DIM:
        raise ValueError(f"C = {C} with {num_heads} heads: the kernels need head dim {HEAD_DIM} (C = heads * 32)")
    if window not in WINDOWS:
        raise ValueError(f"window {window} has no kernel variant; supported windows: {WINDOWS}")
    if int8_scales is not None and fp8_scales is not None:
        raise ValueError("give int8_scales (an INT8 node) or fp8_scales (an FP8 node), not both")
    quant_scales = int8_scales if int8_scales is not None else fp8_scales
    if quant_scales is not None and len(quant_scales) != NUM_SCALES:
        name = "int8_scales" if int8_scales is not None else "fp8_scales"
        raise ValueError(f"{name}: the node's {NUM_SCALES} scale inputs (7-14), got {len(quant_scales)}")
    mode = "fp16" if quant_scales is None else "int8" if int8_scales is not None else "fp8"
    return launch.run_node(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift=shift, scale=scale,
                           scales=quant_scales, mode=mode)


def node_inputs_of(module, x: torch.Tensor, io: torch.dtype | None = None) -> tuple[list, dict]:
    """The node's inputs and attributes for `module` (a WindowAttention or modelopt's QuantWindowAttention).

    Built by the exporter's own `node_inputs`, so the emulation gets exactly what the ONNX node gets: for a
    quantized block the weights quantize-dequantized per output channel and the eight scales of
    `edge_swin.export.qdq.block_scales` (ExportError if one is off or uncalibrated).
    io: the node's tensor dtype (inputs 0-6; the scales stay fp32); default fp16 (FP16 export) for a float
    module, fp32 (INT8 export of an FP32 graph) for a quantized one; fp16 for an INT8 node in an FP16 graph.
    """
    from edge_swin.export.qdq import block_scales, is_quantized_model
    from edge_swin.export.symbolic import node_attributes, node_inputs

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
    return torch.where(amax <= 2.0 ** -24, torch.ones_like(amax), amax / E4M3_MAX)


def fp8_scales_of(module) -> list[torch.Tensor]:
    """The FP8 node's eight scales (node inputs 7-14) of a calibrated FP8 block: fp8_scale of each quantizer of
    BLOCK_QUANTIZERS, in node order."""
    from edge_swin.export.qdq import BLOCK_QUANTIZERS

    return [fp8_scale(module.get_submodule(path), path) for _, path, _ in BLOCK_QUANTIZERS]


def fp8_weight_values(layer, scale: torch.Tensor) -> torch.Tensor:
    """A Linear's (or Conv's) weight as the FP8 kernels take it: torch.float8_e4m3fn values of modelopt's own
    weight fake quant divided by its per-tensor scale (exact: the fake quant puts it on that grid)."""
    weight = layer._parameters["weight"] if "weight" in layer._parameters else layer.weight
    fake = layer.weight_quantizer(weight.detach().float()).cpu()
    return (fake * (1 / scale)).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)


def fp8_node_inputs_of(module, x: torch.Tensor) -> tuple[list, dict]:
    """node_inputs_of for an FP8 block: fp16 tensors (the FP8 node's io), the weights as torch.float8_e4m3fn (the
    e4m3 values of modelopt's own weight fake quant divided by the per-tensor scale: the FP8 node's weight inputs),
    and the eight scales of fp8_scales_of."""
    from edge_swin.export.symbolic import node_attributes

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
    """`module`'s forward as one plugin node: run_node on the inputs the exporter would give it (see node_inputs_of).

    Compare with `module(x)`: FP16 kernels for a float WindowAttention, INT8 kernels for a calibrated
    QuantWindowAttention. The result has the node's io dtype.
    """
    tensors, attrs = node_inputs_of(module, x, io)
    return run_node(*tensors, **attrs)
