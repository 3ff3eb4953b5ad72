"""The runtime's modules: what replaces a WindowAttention, a quantized Linear and the quantized patch embedding.

Each holds its weights as buffers in the io dtype (fp16 on a GPU) and calls one custom op (ops.py) in forward.
INT8 / FP8 scales are kept as the int32 bit patterns of their float32 values: `.half()` or `.to(dtype)` on the
model casts every floating buffer, which would round a scale to fp16 and move every quantization step; integer
buffers are left alone (they still follow `.to(device)`). FP8 weights are kept as their uint8 bytes for the same
reason (torch counts float8 as floating point); the FP8 ops take those bytes.
"""
from __future__ import annotations

import torch
import torch.nn as nn

import edge_swin.runtime.ops  # noqa: F401  (registers torch.ops.edge_swin.*)
from edge_swin.export.qdq import QParams, fake_quant


def _scale_bits(p) -> torch.Tensor:
    """A float32 scale (QParams or tensor) as int32 bits (see the module docstring); `.view(torch.float32)` gives it
    back."""
    scale = p.scale if isinstance(p, QParams) else p
    return scale.detach().float().reshape(-1).contiguous().view(torch.int32).clone()


def _fp8_bytes(values: torch.Tensor) -> torch.Tensor:
    """torch.float8_e4m3fn values as uint8 bytes (see the module docstring); `.view(torch.float8_e4m3fn)` back."""
    return values.contiguous().view(torch.uint8).clone()


def _patches(x: torch.Tensor, patch: tuple[int, int]) -> torch.Tensor:
    """[B, C, H, W] -> [B, H/p, W/p, C*p*p]: the non-overlapping patches a kernel = stride Conv2d reads."""
    B, C, H, W = x.shape
    ph, pw = patch
    return x.reshape(B, C, H // ph, ph, W // pw, pw).permute(0, 2, 4, 1, 3, 5).reshape(
        B, H // ph, W // pw, C * ph * pw)


def _check_patch_conv(conv: nn.Module) -> None:
    d, c, ph, pw = conv.weight.shape
    if tuple(conv.stride) != (ph, pw) or any(conv.padding) or conv.groups != 1:
        raise ValueError(f"patch conv {tuple(conv.weight.shape)} stride {conv.stride}: the runtime takes "
                         "non-overlapping patches (kernel = stride, no padding)")


class FusedWindowAttention(nn.Module):
    """One WindowAttention as the plugin's fused node: qkv linear, window attention, proj (3 kernel launches)."""

    def __init__(self, block: nn.Module, dtype: torch.dtype, scales: list[QParams] | None = None, fp8: bool = False):
        from edge_swin.export.symbolic import node_inputs
        from edge_swin.plugins.swin_window_attention.emulate import fp8_node_inputs_of

        super().__init__()
        with torch.no_grad():  # the exporter's own inputs: weights fake-quantized per row for INT8, gathered bias
            if fp8:  # the FP8 node's: e4m3 weight values, eight per-tensor scales
                inputs, attrs = fp8_node_inputs_of(block.cpu(), torch.empty(0))
                scales = attrs["fp8_scales"]
            else:
                inputs = node_inputs(block.cpu(), torch.empty(0), scales)
        qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask = inputs[1:7]
        self.fp8 = fp8
        for name, t in (("qkv_w", qkv_w), ("qkv_b", qkv_b), ("proj_w", proj_w), ("proj_b", proj_b),
                        ("rel_bias", rel_bias)):
            fp8_weight = fp8 and name in ("qkv_w", "proj_w")
            self.register_buffer(name, _fp8_bytes(t) if fp8_weight else t.detach().to(dtype).contiguous())
        self.shift = [int(v) for v in block.shift_size]
        self.register_buffer("mask", mask.detach().to(dtype).contiguous() if any(self.shift) else None)
        self.scale = float(block.scale)
        self.int8 = scales is not None and not fp8
        if scales is not None:
            for i, p in enumerate(scales):
                self.register_buffer(f"scale_bits_{i}", _scale_bits(p))
        self.description = f"heads={block.num_heads}, window={tuple(block.window_size)}, shift={tuple(self.shift)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fp8:
            scales = [getattr(self, f"scale_bits_{i}").view(torch.float32) for i in range(8)]
            return torch.ops.edge_swin.window_attention_fp8(  # the weights as their e4m3 bytes
                x.contiguous(), self.qkv_w, self.qkv_b, self.proj_w, self.proj_b, self.rel_bias, self.mask,
                self.shift, self.scale, scales)
        args = (x.contiguous(), self.qkv_w, self.qkv_b, self.proj_w, self.proj_b, self.rel_bias, self.mask, self.shift,
                self.scale)
        if self.int8:
            scales = [getattr(self, f"scale_bits_{i}").view(torch.float32) for i in range(8)]
            return torch.ops.edge_swin.window_attention_int8(*args, scales)
        return torch.ops.edge_swin.window_attention(*args)

    def extra_repr(self) -> str:
        return f"{'fp8' if self.fp8 else 'int8' if self.int8 else 'fp16'} node, {self.description}"


class Int8Linear(nn.Module):
    """y = x @ w^T + b as an int8 GEMM: x quantized per tensor, w per output channel (the QAT scales).

    The weight is stored quantize-dequantized (on the int8 grid of its row scale) in the io dtype, which the
    kernel maps back to the same integers exactly (|w / s| <= 128 and fp16 keeps 11 bits).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, x_q: QParams, w_q: QParams, dtype: torch.dtype):
        super().__init__()
        with torch.no_grad():
            w = fake_quant(weight.detach().float().cpu(), w_q)
        self.register_buffer("weight", w.to(dtype).contiguous())
        b = bias.detach() if bias is not None else torch.zeros(w.shape[0])
        self.register_buffer("bias", b.to(dtype).contiguous())
        self.register_buffer("x_scale_bits", _scale_bits(x_q))
        self.register_buffer("w_scale_bits", _scale_bits(w_q))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.edge_swin.linear_int8(x.contiguous(), self.weight, self.bias,
                                               self.x_scale_bits.view(torch.float32),
                                               self.w_scale_bits.view(torch.float32))

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, int8"


class Int8PatchConv(Int8Linear):
    """The patch embedding's Conv2d (kernel = stride = p) as an int8 GEMM over the unfolded p x p patches.

    Returns [B, D, H/p, W/p] as a permuted view of the NHWC GEMM output, so PatchEmbed's own permute back to
    NHWC costs nothing.
    """

    def __init__(self, conv: nn.Module, x_q: QParams, w_q: QParams, dtype: torch.dtype):
        _check_patch_conv(conv)
        d, c, ph, pw = conv.weight.shape
        w = conv._parameters["weight"] if "weight" in conv._parameters else conv.weight
        super().__init__(w.detach().float().cpu(), conv.bias, x_q, w_q, dtype)
        self.weight = self.weight.reshape(d, c * ph * pw)  # [D, C, p, p] -> [D, C*p*p]: rows stay per channel
        self.patch = (ph, pw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_patches(x, self.patch)).permute(0, 3, 1, 2)


class Fp8Linear(nn.Module):
    """y = x @ w^T + b as an fp8 GEMM (fp16 io): x quantized to e4m3 per tensor, w the e4m3 values of its per-tensor
    scale (modelopt FP8 E4M3, the QAT scales)."""

    def __init__(self, layer: nn.Module, dtype: torch.dtype):
        from edge_swin.plugins.swin_window_attention.emulate import fp8_scale, fp8_weight_values

        super().__init__()
        w_scale = fp8_scale(layer.weight_quantizer, "weight_quantizer")
        x_scale = fp8_scale(layer.input_quantizer, "input_quantizer")
        with torch.no_grad():
            w = fp8_weight_values(layer, w_scale)
        self.register_buffer("weight", _fp8_bytes(w.reshape(w.shape[0], -1)))
        b = layer.bias.detach() if layer.bias is not None else torch.zeros(w.shape[0])
        self.register_buffer("bias", b.to(dtype).contiguous())
        self.register_buffer("x_scale_bits", _scale_bits(x_scale))
        self.register_buffer("w_scale_bits", _scale_bits(w_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.edge_swin.linear_fp8(x.contiguous(), self.weight, self.bias,
                                              self.x_scale_bits.view(torch.float32),
                                              self.w_scale_bits.view(torch.float32))

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, fp8"


class Fp8PatchConv(Fp8Linear):
    """The patch embedding's Conv2d as an fp8 GEMM over the unfolded patches (see Int8PatchConv)."""

    def __init__(self, conv: nn.Module, dtype: torch.dtype):
        _check_patch_conv(conv)
        super().__init__(conv, dtype)  # the weight's rows stay per output channel: [D, C*p*p]
        self.patch = tuple(conv.weight.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_patches(x, self.patch)).permute(0, 3, 1, 2)


class RuntimeModel(nn.Module):
    """The converted Swin: takes what the PyTorch model takes (float32 images), returns float32 logits."""

    def __init__(self, model: nn.Module, precision: str, dtype: torch.dtype):
        super().__init__()
        self.model = model
        self.precision = precision
        self.dtype = dtype
        self.img_size = int(model.img_size[0])  # the square input it takes, for an application's transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()

    def extra_repr(self) -> str:
        return f"precision={self.precision}, io={str(self.dtype).removeprefix('torch.')}"
