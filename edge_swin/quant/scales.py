"""A quantized model's scales read off its modelopt quantizers, and the INT8 arithmetic they stand for.

What the exporter, the PyTorch runtime and the node's CPU emulation all take from a quantized model: one
`QParams` (scale, axis) per enabled quantizer (`qparams`) and, for a WindowAttention block, its eight scales
in the node's input order (`block_scales`; which quantizer feeds which scale input is the node's contract,
`BLOCK_QUANTIZERS`). A quantizer they cannot represent is a `ScaleError` naming it and the fix.

Arithmetic: modelopt's INT8 fake quant (num_bits 8, signed, narrow_range
False, the `INT8_DEFAULT`-style config `edge_swin.quant.config` builds) is
`clamp(round(x * 127 / amax), -128, 127) * amax / 127` with round half to even:
exactly ONNX QuantizeLinear/DequantizeLinear with scale = amax / 127, zero
point 0, int8. Per-channel weights (axis 0) give a 1-D scale with `axis`.
modelopt maps amax <= 2**-24 to "everything is 0"; scale 1.0 does the same for
such a channel (its |values| <= amax round to 0), as modelopt's own exporter does.
`fake_quant` is that arithmetic, in eager mode and (as the Q/DQ pair) while `torch.export` traces.

FP8 (the `swin_fp8` recipe, modelopt num_bits (4, 3)): modelopt's E4M3 fake quant is
`cast_e4m3(x * 448 / amax) * amax / 448` (round half to even, saturating at +-448): ONNX QuantizeLinear /
DequantizeLinear (opset >= 19) with scale = amax / 448 and a `float8e4m3fn` zero point 0, saturate=1, the
standard operators ONNX Runtime runs on a CPU (never modelopt's own `trt::TRT_FP8*` custom ops, which it
cannot load). `QParams.format` says which of the two a quantizer is.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
import torch.nn as nn

from edge_swin.plugins.swin_window_attention.contract import BLOCK_QUANTIZERS
from edge_swin.quant.errors import ScaleError

QMIN, QMAX = -128, 127
FP8_MAX = 448.0  # the largest finite E4M3 (float8e4m3fn) value: an FP8 scale is amax / 448
FP8_NUM_BITS = (4, 3)  # modelopt's num_bits for E4M3
ZERO_AMAX = 1.0 / (1 << 24)  # modelopt's "treat as zero" threshold


def tensor_quantizer_class():
    from modelopt.torch.quantization.nn import TensorQuantizer

    return TensorQuantizer


def is_quantized_model(model: nn.Module) -> bool:
    """True if `model` holds modelopt TensorQuantizers (inserted by mtq.quantize / load_quantized).

    Does not import modelopt (slow): a model can hold quantizers only if modelopt was imported already.
    """
    if "modelopt.torch.quantization" not in sys.modules:
        return False
    cls = tensor_quantizer_class()
    return any(isinstance(m, cls) for m in model.modules())


@dataclass(frozen=True)
class QParams:
    """One quantizer as ONNX Q/DQ parameters: scale (float32, [] or [channels]), axis (None = per tensor)."""

    scale: torch.Tensor
    axis: int | None
    format: str = "int8"  # "int8" (int8 zero point) or "fp8" (float8e4m3fn zero point)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


def qparams(q: nn.Module, name: str = "") -> QParams:
    """Scale and axis of an enabled, calibrated modelopt INT8 or FP8 (E4M3) quantizer; ScaleError for anything ONNX
    Q/DQ cannot say."""
    def fail(why: str):
        raise ScaleError(f"quantizer {name or type(q).__name__}: {why}")

    fp8 = isinstance(q.num_bits, (tuple, list)) and tuple(q.num_bits) == FP8_NUM_BITS
    if q.num_bits != 8 and not fp8:
        fail(f"num_bits {q.num_bits}: only INT8 (num_bits=8) and FP8 E4M3 (num_bits=(4, 3)) export as Q/DQ")
    if q.unsigned:
        fail("unsigned INT8 is not supported (the Swin placement is signed)")
    if q.narrow_range and not fp8:
        fail("narrow_range (-127..127) has no ONNX int8 Q/DQ equivalent; calibrate with narrow_range=False")
    if q.block_sizes:
        fail(f"block quantization {q.block_sizes} is not supported: per-tensor or per-channel only")
    if getattr(q, "pre_quant_scale", None) is not None:
        fail("pre_quant_scale (SmoothQuant) is not supported by the INT8 export")
    if getattr(q, "rotate_is_enabled", False):
        fail("rotation is not supported by the INT8 export")
    if getattr(q, "_dynamic", False):
        fail("dynamic (per-batch) quantization is not supported: calibrate static scales")
    if getattr(q, "bias_calibrator", None) is not None:
        fail("affine (bias) quantization is not supported: zero point 0 only")
    amax = q.amax
    if amax is None:
        fail("no amax: the model is not calibrated (edge_swin.quant.calibrate / load_quantized)")
    amax = amax.detach().float().cpu()
    if not torch.isfinite(amax).all() or (amax < 0).any():
        fail(f"amax has negative or non-finite values (min {amax.min().item():.3g})")
    scale = torch.where(amax <= ZERO_AMAX, torch.ones_like(amax), amax / (FP8_MAX if fp8 else QMAX))
    fmt = "fp8" if fp8 else "int8"
    axis = q.axis
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            fail(f"axis {tuple(axis)}: ONNX Q/DQ is per tensor or along one axis")
        axis = axis[0]
    if axis is None:
        if scale.numel() != 1:
            fail(f"per-tensor quantizer with {scale.numel()} amax values")
        return QParams(scale.reshape(()), None, fmt)
    return QParams(scale.reshape(-1), int(axis), fmt)


def fake_quant(x: torch.Tensor, p: QParams) -> torch.Tensor:
    """Q/DQ of `x`: QuantizeLinear -> DequantizeLinear nodes while exporting, torch's fake quant in eager mode.

    While `torch.export` traces (the dynamo exporter's first step), the pair is emitted with
    `torch.onnx.ops.symbolic` (int8 zero point 0, `axis` for per-channel): torch's own
    `fake_quantize_per_*_affine` decomposes into `*_cachemask`, which has no fake-tensor kernel under dynamic
    shapes (measured, torch 2.14.1). Eagerly it is `torch.fake_quantize_per_*_affine`, the same arithmetic.
    """
    if x.dtype not in (torch.float32, torch.float16):
        raise ScaleError(f"{p.format.upper()} export quantizes float32 (or, in an FP16 graph, float16) tensors, got "
                         f"{x.dtype}")
    axis = None if p.axis is None else p.axis % x.ndim
    if axis is not None and x.shape[axis] != p.scale.numel():
        raise ScaleError(f"per-channel scale has {p.scale.numel()} values, tensor {list(x.shape)} axis {axis}")
    if x.dtype == torch.float16 and not torch.compiler.is_exporting():
        return fake_quant(x.float(), p).half()
    if torch.compiler.is_exporting():
        # An FP16 graph's Q/DQ takes an fp16 scale (QuantizeLinear-19: scale and x share their type).
        scale = p.scale.clone().to(x.dtype)
        qtype = torch.float8_e4m3fn if p.format == "fp8" else torch.int8
        zp = torch.zeros(p.scale.shape, dtype=qtype)
        attrs = {} if axis is None else {"axis": axis}
        q = torch.onnx.ops.symbolic("QuantizeLinear", [x, scale, zp], attrs=attrs, dtype=qtype,
                                    shape=x.shape, version=1)
        return torch.onnx.ops.symbolic("DequantizeLinear", [q, scale, zp], attrs=attrs, dtype=x.dtype,
                                       shape=x.shape, version=1)
    if p.format == "fp8":
        return fp8_fake_quant(x, p.scale, axis)
    if axis is None:
        return torch.fake_quantize_per_tensor_affine(x, float(p.scale), 0, QMIN, QMAX)
    return torch.fake_quantize_per_channel_affine(x, p.scale, torch.zeros(p.scale.numel(), dtype=torch.int32),
                                                  axis, QMIN, QMAX)


def fp8_fake_quant(x: torch.Tensor, scale: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    """ONNX's FP8 QuantizeLinear -> DequantizeLinear (saturate=1): E4M3 of x / scale, saturated at +-448, times scale."""
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = scale.numel()
        scale = scale.reshape(shape)
    return (x / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).to(x.dtype) * scale


def block_scales(block: nn.Module, name: str = "") -> list[QParams]:
    """The eight scales of one quantized WindowAttention, in node-input order; ScaleError if any is off or missing."""
    cls = tensor_quantizer_class()
    out, missing = [], []
    for _, path, per_channel in BLOCK_QUANTIZERS:
        try:
            q = block.get_submodule(path)
        except AttributeError:
            q = None
        if not isinstance(q, cls) or not q.is_enabled:
            missing.append(path)
            continue
        p = qparams(q, f"{name}.{path}" if name else path)
        if p.format == "fp8":  # the FP8 node: every scale per tensor, the weights' too
            if p.axis is not None:
                raise ScaleError(f"{path} must be per tensor for the FP8 SwinWindowAttention (the swin_fp8 recipe), "
                                 f"is axis {p.axis}", block=name)
        elif per_channel and (p.axis is None or p.axis % 2 != 0):
            raise ScaleError(f"{path} must be per output channel (axis 0) for the INT8 SwinWindowAttention, "
                             f"is {'per tensor' if p.axis is None else f'axis {p.axis}'}", block=name)
        if not per_channel and p.axis is not None:
            raise ScaleError(f"{path} must be per tensor for the INT8 SwinWindowAttention, is axis {p.axis}", block=name)
        out.append(p)
    if len({p.format for p in out}) > 1:
        raise ScaleError(f"the block's quantizers mix formats ({', '.join(p.format for p in out)}): the "
                         "SwinWindowAttention node is INT8 or FP8 as a whole; quantize with one recipe", block=name)
    if missing:
        raise ScaleError(
            f"the INT8 SwinWindowAttention needs all eight block quantizers enabled and calibrated; off or absent: "
            f"{', '.join(missing)}. Quantize with edge_swin.quant's swin_int8 placement (quantize_attention=True), "
            f"or export with custom_op=False (plain graph, Q/DQ wherever a quantizer is on)", block=name)
    return out
