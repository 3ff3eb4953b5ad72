"""The plugin's algorithm in Python: one SwinWindowAttention node through the same three kernel launches.

`run_node` checks a node's inputs and attributes as the ONNX node carries them (function.py's order, the
attributes as keywords) and runs the one launch sequence, `launch.run_node`, the C++ plugin's enqueue in
Python (README "Description"): qkv linear, window attention, proj linear. The
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


def run_node(x: torch.Tensor, qkv_w: torch.Tensor, qkv_b: torch.Tensor, proj_w: torch.Tensor,
             proj_b: torch.Tensor, rel_bias: torch.Tensor, mask: torch.Tensor | None, *, num_heads: int,
             window_size, shift_size, scale: float, int8_scales=None) -> torch.Tensor:
    """One node: inputs 0-6 (and 7-14 as `int8_scales`, in node order) -> y [B, H, W, C] of x's dtype.

    `mask` is not read for W-MSA (shift_size == (0, 0)); the node's [1, 1, 1] zero, None, anything goes.
    """
    B, H, W, C = x.shape
    window, shift = tuple(int(v) for v in window_size), tuple(int(v) for v in shift_size)
    if C != num_heads * HEAD_DIM:
        raise ValueError(f"C = {C} with {num_heads} heads: the kernels need head dim {HEAD_DIM} (C = heads * 32)")
    if window not in WINDOWS:
        raise ValueError(f"window {window} has no kernel variant; supported windows: {WINDOWS}")
    if int8_scales is not None and len(int8_scales) != NUM_SCALES:
        raise ValueError(f"int8_scales: the node's {NUM_SCALES} scale inputs (7-14), got {len(int8_scales)}")
    return launch.run_node(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift=shift, scale=scale,
                           scales=int8_scales)


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


def run_module(module, x: torch.Tensor, io: torch.dtype | None = None) -> torch.Tensor:
    """`module`'s forward as one plugin node: run_node on the inputs the exporter would give it (see node_inputs_of).

    Compare with `module(x)`: FP16 kernels for a float WindowAttention, INT8 kernels for a calibrated
    QuantWindowAttention. The result has the node's io dtype.
    """
    tensors, attrs = node_inputs_of(module, x, io)
    return run_node(*tensors, **attrs)
