"""During export only: `WindowAttention.forward` becomes one `edge_swin::SwinWindowAttention` node.

`custom_op_forward()` swaps the forward of every `WindowAttention` *instance*
it is given for one that calls `torch.onnx.ops.symbolic` (the exporter-independent
way to emit a node of our own domain with named attributes) and puts the
original back on exit, whatever happens. The class, other instances and other
threads' models are untouched.
"""
from __future__ import annotations

import contextlib
import types

import torch

from edge_swin.export.function import DOMAIN, FUNCTION_VERSION, OP_TYPE
from edge_swin.models.window_attention import WindowAttention


def node_attributes(m: WindowAttention) -> dict:
    return {
        "num_heads": int(m.num_heads),
        "window_size": [int(v) for v in m.window_size],
        "shift_size": [int(v) for v in m.shift_size],
        "scale": float(m.scale),
        "version": FUNCTION_VERSION,
    }


def node_inputs(m: WindowAttention, x: torch.Tensor) -> list[torch.Tensor | None]:
    """The node's inputs in the function's order (see function.py); the mask as [nW*N, N], None for W-MSA."""
    dtype = x.dtype
    qkv_b = m.qkv.bias if m.qkv.bias is not None else torch.zeros(3 * m.dim, dtype=dtype)
    mask = None
    if m.attn_mask is not None:
        mask = m.attn_mask.to(dtype).reshape(-1, m.window_area)
    return [x, m.qkv.weight, qkv_b, m.proj.weight, m.proj.bias, m.relative_position_bias().to(dtype), mask]


def _export_forward(self: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    if tuple(x.shape[1:3]) != tuple(self.feat_size) or x.shape[-1] != self.dim:
        from edge_swin.export.errors import ExportError

        raise ExportError(f"built for a [B, {self.feat_size[0]}, {self.feat_size[1]}, {self.dim}] map, got "
                          f"{list(x.shape)} while exporting; export with the input size the model was built for",
                          block=getattr(self, "_export_name", None))
    return torch.onnx.ops.symbolic(
        f"{DOMAIN}::{OP_TYPE}",
        node_inputs(self, x),
        attrs=node_attributes(self),
        dtype=x.dtype,
        shape=x.shape,
        version=1,
    )


@contextlib.contextmanager
def custom_op_forward(modules):
    """Within the block, each module in `modules` exports as one SwinWindowAttention node.

    `modules`: WindowAttention instances, or (name, instance) pairs (the name goes into error messages).
    """
    swapped = []
    try:
        for item in modules:
            name, m = item if isinstance(item, tuple) else (None, item)
            m.forward = types.MethodType(_export_forward, m)
            m._export_name = name
            swapped.append(m)
        yield
    finally:
        for m in swapped:
            del m.forward  # back to the class's forward
            del m._export_name
