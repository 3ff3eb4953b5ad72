"""During export only: `WindowAttention.forward` becomes one `edge_swin::SwinWindowAttention` node.

`custom_op_forward()` swaps the forward of every `WindowAttention` *instance*
it is given for one that calls `torch.onnx.ops.symbolic` (the exporter-independent
way to emit a node of our own domain with named attributes) and puts the
original back on exit, whatever happens. The class, other instances and other
threads' models are untouched.

INT8 (`custom_op_forward(blocks, int8=True)`, a modelopt-quantized model): the
node gets 15 inputs (function.py): the weights fake-quantized per channel in
the main graph (Q/DQ from `edge_swin.export.qdq.fake_quant`) and the eight
scales of the block's quantizers as float32 constants. An FP8 (`swin_fp8`) model goes the same way
(`int8=True` means "quantized"): its weights' Q/DQ are float8e4m3fn and its scales amax / 448.
"""
from __future__ import annotations

import contextlib
import types

import torch

from edge_swin.export.errors import ExportError
from edge_swin.export.qdq import block_scales, fake_quant
from edge_swin.models.window_attention import WindowAttention
from edge_swin.plugins.swin_window_attention.contract import DOMAIN, FUNCTION_VERSION, OP_TYPE


BLOCK_KEY = "edge_swin.block"  # node metadata: the module path of the block the node came from


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


def node_inputs(m: WindowAttention, x: torch.Tensor, scales=None) -> list[torch.Tensor | None]:
    """The node's inputs in the function's order (see function.py); for W-MSA the mask is a [1, 1, 1] zero.

    scales: None (FP32/FP16), or the block's eight `QParams` (edge_swin.export.qdq.block_scales) for INT8.
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


def _export_forward(self: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    if tuple(x.shape[1:3]) != tuple(self.feat_size) or x.shape[-1] != self.dim:
        raise ExportError(f"built for a [B, {self.feat_size[0]}, {self.feat_size[1]}, {self.dim}] map, got "
                          f"{list(x.shape)} while exporting; export with the input size the model was built for",
                          block=getattr(self, "_export_name", None))
    return torch.onnx.ops.symbolic(
        f"{DOMAIN}::{OP_TYPE}",
        node_inputs(self, x, getattr(self, "_export_scales", None)),
        attrs=node_attributes(self),
        dtype=x.dtype,
        shape=x.shape,
        version=1,
        metadata_props={BLOCK_KEY: str(getattr(self, "_export_name", None) or "")},
    )


@contextlib.contextmanager
def custom_op_forward(modules, int8: bool = False):
    """Within the block, each module in `modules` exports as one SwinWindowAttention node.

    `modules`: WindowAttention instances, or (name, instance) pairs (the name goes into error messages).
    int8: the modules are modelopt-quantized; the nodes carry their scales (ExportError if one is missing).
    """
    swapped = []
    try:
        for item in modules:
            name, m = item if isinstance(item, tuple) else (None, item)
            scales = None
            if int8:
                scales = block_scales(m, name or "")
            m.forward = types.MethodType(_export_forward, m)
            m._export_name = name
            m._export_scales = scales
            swapped.append(m)
        yield
    finally:
        for m in swapped:
            for attr in ("forward", "_export_name", "_export_scales"):  # back to the class's forward
                m.__dict__.pop(attr, None)
