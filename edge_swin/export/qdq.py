"""INT8 (Q/DQ) export of a modelopt QAT/PTQ model: the quantizers become QuantizeLinear/DequantizeLinear pairs.

Route: the same dynamo exporter as FP32/FP16. modelopt's own quantizer
forward cannot be traced by `torch.export` (its `_tensor_quant` branches on the
*value* of amax, a data-dependent guard), but after calibration every
scale is a known number. So, for the export only, `qdq_forward(model)` swaps
the forward of every `TensorQuantizer` *instance* for one that calls
`edge_swin.quant.scales.fake_quant` with its constant scales (`qparams`), which
emits the ONNX pair QuantizeLinear -> DequantizeLinear (int8, zero point 0)
while the exporter traces. Disabled quantizers become the identity. The
originals come back on exit.

The blocks that export as one `SwinWindowAttention` node never call their
quantizers during the export (the node replaces the whole forward): their
eight scales (`edge_swin.quant.scales.block_scales`, in the contract's
`BLOCK_QUANTIZERS` order) become extra node inputs and the function body
quantize-dequantizes at the same places (`edge_swin.export.function`).
"""
from __future__ import annotations

import contextlib
import types

import torch.nn as nn

from edge_swin.quant.scales import fake_quant, qparams, tensor_quantizer_class


def _qdq_forward(self, inputs):
    return fake_quant(inputs, self._export_qparams)


def _identity_forward(self, inputs):
    return inputs


@contextlib.contextmanager
def qdq_forward(model: nn.Module):
    """Within the block, every TensorQuantizer of `model` is an exportable Q/DQ (enabled) or the identity (disabled).

    Only instance attributes change (forward, _export_qparams); the originals come back on exit, whatever happens.
    """
    cls = tensor_quantizer_class()
    swapped = []
    try:
        for name, q in model.named_modules():
            if not isinstance(q, cls):
                continue
            if q.is_enabled:
                params = qparams(q, name)
                q._export_qparams = params
                q.forward = types.MethodType(_qdq_forward, q)
            else:
                q.forward = types.MethodType(_identity_forward, q)
            swapped.append(q)
        yield
    finally:
        for q in swapped:
            q.__dict__.pop("forward", None)
            q.__dict__.pop("_export_qparams", None)
