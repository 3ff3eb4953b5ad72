"""The node's launch sequence, written once: the three kernel launches the C++ plugin's enqueue makes.

    y = run_node(x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask, shift=(2, 2), scale=0.17)        # FP16 node
    y = run_node(..., shift=(2, 2), scale=0.17, scales=eight_fp32_scales)                           # INT8 node
    y = run_node(..., shift=(2, 2), scale=0.17, scales=eight_fp32_scales, mode="fp8")               # FP8 node

Its callers: the CPU emulation (emulate.run_node, Triton's interpreter), the PyTorch runtime ops
(edge_swin.runtime.ops, JIT on a GPU) and the GPU suite's per-launch timing (through `launch_hook`).
The kernels are the Triton ones of kernels/, the ones the ahead-of-time build compiles for the plugin.

    1. qkv_linear   x [B*H*W, C] @ qkv_w^T + qkv_b -> qkv [B*H*W, 3C]   (swin_linear; INT8: swin_qkv_int8)
    2. attention    qkv -> out [B*H*W, C]: roll, pad, partition, bias/mask, inverse roll, heads merged
    3. proj_linear  out @ proj_w^T + proj_b -> y [B*H*W, C], reshaped to x's [B, H, W, C]

FP16 node: fp16 workspaces. INT8 node: 1. quantizes in its epilogue (int8 q pre-scaled by `scale`, k, v with
the node's q/k/v scales); 2. reads int8 and writes int8, quantized with the proj input's scale; 3. reads that
and writes y in the io type (x's dtype). FP8 node: the INT8 node's launches with fp8 e4m3 for int8 (swin_qkv_fp8,
swin_window_attention_fp8, swin_linear_fp8), fp16 io, qkv_w and proj_w torch.float8_e4m3fn (their e4m3 values),
every scale one value (modelopt FP8 E4M3, amax / 448).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from edge_swin.plugins.swin_window_attention.contract import SCALE_INPUTS
from edge_swin.plugins.swin_window_attention.kernels.linear import linear, quantized_qkv
from edge_swin.plugins.swin_window_attention.kernels.window_attention import window_attention

LAUNCHES = ("qkv_linear", "attention", "proj_linear")  # the names launch_hook receives, in launch order
MODES = ("fp16", "int8", "fp8")
# A hook gets each launch's name and the launch itself (no arguments, returns its output tensor) and returns
# that output; it may run the launch more than once (to time it) but must return one run's output.
LaunchHook = Callable[[str, Callable[[], torch.Tensor]], torch.Tensor]


def _run(name: str, launch: Callable[[], torch.Tensor]) -> torch.Tensor:
    return launch()


def run_node(x: torch.Tensor, qkv_w: torch.Tensor, qkv_b: torch.Tensor, proj_w: torch.Tensor,
             proj_b: torch.Tensor, rel_bias: torch.Tensor, mask: torch.Tensor | None, *, shift, scale: float,
             scales=None, mode: str | None = None, launch_hook: LaunchHook | None = None) -> torch.Tensor:
    """One node, x [B, H, W, C] -> y [B, H, W, C] of x's dtype, in three launches (module doc).

    shift: (sh, sw); (0, 0) is W-MSA, whose mask is never read (None or the node's [1, 1, 1] zero).
    scales: None (FP16 node) or the node's eight fp32 scale inputs 7-14 in node order (contract.SCALE_INPUTS).
    mode: "fp16", "int8" or "fp8"; default from `scales` ("int8" when given).
    launch_hook(name, launch) -> output: called for each launch instead of `launch()`, name one of LAUNCHES.
      To time each launch (the GPU suite's per-launch rows), time `launch` inside the hook and return one
      run's output, e.g.

          times = {}
          def timed(name, launch):
              times[name] = bench(launch)      # ms of the launch, its output allocation included
              return launch()
          run_node(*tensors, shift=shift, scale=scale, scales=scales, launch_hook=timed)

      The output a hook returns has the shape and dtype the launch allocates (qkv [B*H*W, 3C] and out [B*H*W, C]:
      fp16 for the FP16 node, int8 / fp8 for the INT8 / FP8 node; y [B*H*W, C] in x's dtype), so a hook can subtract the
      cost of that allocation.
    """
    mode = mode or ("fp16" if scales is None else "int8")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: the node's kernels run {', '.join(MODES)}")
    if mode == "fp16" and scales is not None:
        raise ValueError("mode 'fp16' takes no scales (the FP16 node has 7 inputs): pass scales=None, or mode='int8'")
    if mode != "fp16" and scales is None:
        raise ValueError(f"mode {mode!r} needs the node's {len(SCALE_INPUTS)} scale inputs: pass scales=[...] "
                         f"({', '.join(SCALE_INPUTS)})")
    if scales is not None and len(scales) != len(SCALE_INPUTS):
        raise ValueError(f"scales: the node's {len(SCALE_INPUTS)} scale inputs ({', '.join(SCALE_INPUTS)}), "
                         f"got {len(scales)}")
    hook = launch_hook or _run
    B, H, W, C = x.shape
    shift = tuple(int(v) for v in shift)
    s = [None] * len(SCALE_INPUTS) if scales is None else list(scales)
    tokens = x.reshape(B * H * W, C)
    if mode == "fp16":
        qkv = hook("qkv_linear", lambda: linear(tokens, qkv_w, qkv_b, mode=mode))
    else:
        qkv = hook("qkv_linear", lambda: quantized_qkv(tokens, qkv_w, qkv_b, mode=mode, x_scale=s[0], w_scale=s[1],
                                                       q_scale=s[2], k_scale=s[3], v_scale=s[5], scale=scale))
    # int8 / fp8: (q, k, p, v) and the proj input's scale, with which the attention quantizes its output
    out = hook("attention", lambda: window_attention(
        qkv, qkv_b, rel_bias, mask if any(shift) else None, H=H, W=W, shift=shift, C=C, scale=scale, mode=mode,
        scales=None if scales is None else [*s[2:6], s[6]]).reshape(B * H * W, C))
    y = hook("proj_linear", lambda: linear(out, proj_w, proj_b, mode=mode, x_scale=s[6], w_scale=s[7]))
    return y.reshape(B, H, W, C)
