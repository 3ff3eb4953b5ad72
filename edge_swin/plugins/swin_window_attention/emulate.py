"""The plugin's algorithm in Python: one SwinWindowAttention node through the same three kernel launches.

`run_node` checks a node's inputs and attributes as the ONNX node carries them (function.py's order, the
attributes as keywords) and runs the one launch sequence, `launch.run_node`, the C++ plugin's enqueue in
Python (README "Description"): qkv linear, window attention, proj linear. FP8 nodes (fp8_scales) run the INT8
node's launches with fp8 e4m3 for int8 (swin_qkv_fp8, swin_window_attention_fp8, swin_linear_fp8), fp16 io,
fp8 weights, every scale per tensor (modelopt FP8_DEFAULT_CFG; scale = amax / 448). The
kernels are the Triton ones of `edge_swin.plugins.swin_window_attention.kernels`, JIT-compiled on a GPU or run by Triton's
interpreter on CPU tensors (TRITON_INTERPRET=1 set before they are imported). So a comparison of
`edge_swin.quant.node_inputs.run_module(block, x)` (this run_node on the inputs the exporter gives a PyTorch
block) with `block(x)` proves the whole algorithm (index arithmetic, padding, shift, INT8 arithmetic) without
TensorRT, and on a GPU without the C++ plugin. This folder reads no PyTorch block itself: it takes the inputs.

Mode: FP16 for 7-input nodes (the kernels take fp16 or fp32 io; the FP16 export's is fp16), INT8 when
the eight scales are given, with x's io: fp16 (an FP16+INT8 engine, or an INT8 export with an FP16 graph)
or fp32 (an FP32 graph with Q/DQ, which strongly typed TensorRT keeps in fp32). Scales are fp32 always.
"""
from __future__ import annotations

import torch

from edge_swin.plugins.swin_window_attention import launch
from edge_swin.plugins.swin_window_attention.contract import SCALE_INPUTS
from edge_swin.plugins.swin_window_attention.kernels.window_attention import HEAD_DIM, WINDOWS

NUM_SCALES = len(SCALE_INPUTS)  # qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w


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
