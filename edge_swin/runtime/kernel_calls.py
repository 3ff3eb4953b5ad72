"""The runtime's only calls into the plugin's Triton kernels (edge_swin.plugins.swin_window_attention.kernels): one adapter, rewired here alone.

Why one module: the kernels' launch functions change with the INT8 data path (fp16 io, int8 workspaces) and
the linear kernel's tiling (issue 13). The custom ops (ops.py) call `window_attention_node` and `int8_linear`
and nothing else of the plugin, so a new launch signature is a change to this file only.

Today's launches (JIT, the same kernels the AOT build compiles for the C++ plugin):
  window_attention_node: 3 launches, io dtype = x's dtype. FP16 node: qkv linear -> window attention ->
      proj linear. INT8 node (issue 13's data path, as emulate.run_node and the C++ plugin): swin_qkv_int8
      (x quantized once on load, q/k/v quantized in its epilogue: int8 workspace) -> int8 window attention
      (int8 q/k/v in, int8 out quantized with the proj input's scale) -> swin_linear_int8 on that int8 out
      (y in the io dtype).
  int8_linear: y = x @ w^T + b with x quantized per tensor and w per output row inside the GEMM's load.
"""
from __future__ import annotations

import torch

from edge_swin.plugins.swin_window_attention.kernels.linear import linear, qkv_int8
from edge_swin.plugins.swin_window_attention.kernels.window_attention import HEAD_DIM, WINDOWS, window_attention

__all__ = ["HEAD_DIM", "WINDOWS", "int8_linear", "window_attention_node"]


def window_attention_node(x: torch.Tensor, qkv_w: torch.Tensor, qkv_b: torch.Tensor, proj_w: torch.Tensor,
                          proj_b: torch.Tensor, rel_bias: torch.Tensor, mask: torch.Tensor | None,
                          shift: tuple[int, int], scale: float, scales: list[torch.Tensor] | None) -> torch.Tensor:
    """One SwinWindowAttention node on x [B, H, W, C] -> [B, H, W, C] of x's dtype.

    scales: None (fp16 mode) or the node's eight INT8 scales in node order (qkv_x, qkv_w[3C], q, k, softmax, v,
    proj_x, proj_w[C]), float32.
    """
    B, H, W, C = x.shape
    mode = "fp16" if scales is None else "int8"
    s = [None] * 8 if scales is None else scales
    tokens = x.reshape(B * H * W, C)
    if scales is None:
        qkv = linear(tokens, qkv_w, qkv_b, mode=mode)
    else:
        qkv = qkv_int8(tokens, qkv_w, qkv_b, x_scale=s[0], w_scale=s[1], q_scale=s[2], k_scale=s[3], v_scale=s[5],
                       scale=scale)
    # int8: (q, k, p, v) and the proj input's scale, with which the attention quantizes its output
    out = window_attention(qkv, qkv_b, rel_bias, mask if any(shift) else None, H=H, W=W, shift=tuple(shift), C=C,
                           scale=scale, mode=mode, scales=None if scales is None else [*s[2:6], s[6]])
    return linear(out.reshape(B * H * W, C), proj_w, proj_b, mode=mode, x_scale=s[6], w_scale=s[7]).reshape(B, H, W, C)


def int8_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, x_scale: torch.Tensor,
                w_scale: torch.Tensor) -> torch.Tensor:
    """x [..., K] @ w^T + b as an int8 GEMM: x per tensor (x_scale), w [N, K] on the int8 grid per row (w_scale)."""
    return linear(x, w, b, mode="int8", x_scale=x_scale, w_scale=w_scale)
