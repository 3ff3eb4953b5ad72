"""During export only: `WindowAttention.forward` becomes one `edge_swin::SwinWindowAttention` node.

`custom_op_forward()` swaps the forward of every `WindowAttention` *instance*
it is given for one that calls `torch.onnx.ops.symbolic` (the exporter-independent
way to emit a node of our own domain with named attributes) and puts the
original back on exit, whatever happens. The class, other instances and other
threads' models are untouched.

INT8 (`custom_op_forward(blocks, int8=True)`, a modelopt-quantized model): the
node gets 15 inputs (function.py; `edge_swin.quant.node_inputs`): the weights
fake-quantized per channel in the main graph (Q/DQ from `edge_swin.quant.scales.fake_quant`)
and the eight scales of the block's quantizers as float32 constants. An FP8 (`swin_fp8`) model goes the same
way (`int8=True` means "quantized"): its weights' Q/DQ are float8e4m3fn and its scales amax / 448.
"""
from __future__ import annotations

import contextlib
import types

import torch

from edge_swin.export.errors import ExportError
from edge_swin.models.window_attention import WindowAttention
from edge_swin.plugins.swin_window_attention.contract import DOMAIN, OP_TYPE
from edge_swin.quant.node_inputs import node_attributes, node_inputs
from edge_swin.quant.scales import block_scales


BLOCK_KEY = "edge_swin.block"  # node metadata: the module path of the block the node came from


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
