"""The fused window-attention node and the INT8 linear as PyTorch custom ops (torch.library).

    torch.ops.edge_swin.window_attention(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale)
    torch.ops.edge_swin.window_attention_int8(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale, scales)
    torch.ops.edge_swin.linear_int8(x, w, b, x_scale, w_scale)
    torch.ops.edge_swin.window_attention_fp8(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale, scales)
    torch.ops.edge_swin.linear_fp8(x, w, b, x_scale, w_scale)

x [B, H, W, C] (C = heads * 32) in the io dtype (fp16, or fp32), weights in the same dtype, nn.Linear layout;
rel_bias [heads, N, N] (the gathered relative-position bias); mask [nW, N, N] or None (W-MSA); shift [sh, sw];
INT8 scales float32: the node's eight (qkv_x, qkv_w[3C], q, k, softmax, v, proj_x, proj_w[C]); weights of an
INT8 op lie on the int8 grid of their per-row scale (quantize-dequantized), as the INT8 ONNX node's do. FP8 ops:
fp16 x, weights as the uint8 bytes of their torch.float8_e4m3fn values (viewed back inside the op: torch's
opcheck cannot run its schema test on float8 tensors on a CPU), every scale one float32 value (modelopt FP8 E4M3).

Each op has a fake (meta) implementation, so torch.compile traces through it without a graph break: Dynamo
and AOTAutograd see one opaque node with a known output shape, Inductor fuses the LayerNorms, GELUs and residual
adds around it, and CUDA graphs (mode="reduce-overhead") capture the whole forward including its launches.
The real implementation runs the plugin's Triton kernels through the node's one launch sequence
(edge_swin.plugins.swin_window_attention.launch.run_node, the same the CPU emulation and the GPU suite run): on a
CUDA GPU, or on a CPU under Triton's interpreter (TRITON_INTERPRET=1, tests only).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from edge_swin.plugins.swin_window_attention import launch
from edge_swin.plugins.swin_window_attention.kernels.linear import linear
from edge_swin.runtime.availability import unavailable_reason


def _check(x: Tensor) -> None:
    reason = unavailable_reason(x.device)
    if reason:
        raise RuntimeError(f"edge_swin runtime op on {x.device}: {reason}")


@torch.library.custom_op("edge_swin::window_attention", mutates_args=())
def window_attention(x: Tensor, qkv_w: Tensor, qkv_b: Tensor, proj_w: Tensor, proj_b: Tensor, rel_bias: Tensor,
                     mask: Optional[Tensor], shift: list[int], scale: float) -> Tensor:
    """FP16 node (fp16 products, fp32 accumulation and softmax); the output has x's dtype."""
    _check(x)
    return launch.run_node(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift=shift, scale=scale)


@window_attention.register_fake
def _window_attention_fake(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale):
    return torch.empty_like(x)


@torch.library.custom_op("edge_swin::window_attention_int8", mutates_args=())
def window_attention_int8(x: Tensor, qkv_w: Tensor, qkv_b: Tensor, proj_w: Tensor, proj_b: Tensor,
                          rel_bias: Tensor, mask: Optional[Tensor], shift: list[int], scale: float,
                          scales: list[Tensor]) -> Tensor:
    """INT8 node: int8 products with the QAT scales (the INT8 ONNX node's arithmetic); the output has x's dtype."""
    _check(x)
    if len(scales) != 8:
        raise ValueError(f"window_attention_int8 takes the node's 8 scales, got {len(scales)}")
    return launch.run_node(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift=shift, scale=scale,
                           scales=list(scales))


@window_attention_int8.register_fake
def _window_attention_int8_fake(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale, scales):
    return torch.empty_like(x)


@torch.library.custom_op("edge_swin::linear_int8", mutates_args=())
def linear_int8(x: Tensor, w: Tensor, b: Tensor, x_scale: Tensor, w_scale: Tensor) -> Tensor:
    """x [..., K] @ w^T + b, int8 x int8 -> int32, rescaled by x_scale * w_scale[n]; the output has x's dtype."""
    _check(x)
    return linear(x, w, b, mode="int8", x_scale=x_scale, w_scale=w_scale)  # x per tensor, w per output row


@linear_int8.register_fake
def _linear_int8_fake(x, w, b, x_scale, w_scale):
    return x.new_empty((*x.shape[:-1], w.shape[0]))


@torch.library.custom_op("edge_swin::window_attention_fp8", mutates_args=())
def window_attention_fp8(x: Tensor, qkv_w: Tensor, qkv_b: Tensor, proj_w: Tensor, proj_b: Tensor,
                         rel_bias: Tensor, mask: Optional[Tensor], shift: list[int], scale: float,
                         scales: list[Tensor]) -> Tensor:
    """FP8 node: e4m3 products with the QAT scales (fp16 io, fp8 workspaces; qkv_w / proj_w the uint8 bytes of the
    e4m3 weights); the output has x's dtype."""
    _check(x)
    if len(scales) != 8:
        raise ValueError(f"window_attention_fp8 takes the node's 8 scales, got {len(scales)}")
    fp8 = torch.float8_e4m3fn
    return launch.run_node(x, qkv_w.view(fp8), qkv_b, proj_w.view(fp8), proj_b, rel_bias, mask, shift=shift,
                           scale=scale, scales=list(scales), mode="fp8")


@window_attention_fp8.register_fake
def _window_attention_fp8_fake(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift, scale, scales):
    return torch.empty_like(x)


@torch.library.custom_op("edge_swin::linear_fp8", mutates_args=())
def linear_fp8(x: Tensor, w: Tensor, b: Tensor, x_scale: Tensor, w_scale: Tensor) -> Tensor:
    """x [..., K] @ w^T + b, e4m3 x e4m3 with fp32 accumulation, rescaled by x_scale * w_scale; fp16 out (w: the
    uint8 bytes of the e4m3 weight)."""
    _check(x)
    return linear(x, w.view(torch.float8_e4m3fn), b, mode="fp8", x_scale=x_scale, w_scale=w_scale)  # per tensor


@linear_fp8.register_fake
def _linear_fp8_fake(x, w, b, x_scale, w_scale):
    return x.new_empty((*x.shape[:-1], w.shape[0]))
