"""`convert`: a Swin (FP32 weights or the QAT checkpoint) -> a module that runs on our kernels, FP16, INT8 or FP8."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn as nn

from edge_swin.errors import EdgeSwinError
from edge_swin.export.qdq import BLOCK_QUANTIZERS
from edge_swin.models.window_attention import WindowAttention
from edge_swin.plugins.swin_window_attention.kernels.window_attention import HEAD_DIM, WINDOWS
from edge_swin.runtime.availability import unavailable_reason
from edge_swin.runtime.modules import (
    Fp8Linear,
    Fp8PatchConv,
    FusedWindowAttention,
    Int8Linear,
    Int8PatchConv,
    RuntimeModel,
)

PRECISIONS = ("fp16", "int8", "fp8")
QUANTIZED = ("int8", "fp8")
IO_DTYPES = {"float16": torch.float16, "float32": torch.float32}


class RuntimeUnavailable(EdgeSwinError):
    """The runtime's kernels cannot run on this machine or device; the message says why and what to do."""


def convert(model_or_checkpoint, precision: str = "fp16", *, device: str | torch.device | None = None,
            dtype: torch.dtype | str = torch.float16, compile: bool = False, arch: str | None = None,
            num_classes: int | None = None) -> nn.Module:
    """A module that behaves like the Swin model (float32 images in, float32 logits out) on our kernels.

    model_or_checkpoint: a SwinTransformer (FP32), a modelopt-quantized one (edge_swin.quant), the path of a
        run's FP32 weights (train/model.pth; others need `arch`, `num_classes`), or of the QAT checkpoint
        (qat/int8.pth, with its .json sidecar).
    precision: "fp16": every WindowAttention becomes the fused FP16 node, the rest runs in fp16.
        "int8" (needs the quantized model): the fused INT8 node with the block's QAT scales, and every other
        quantized Linear (patch embedding, fc1, fc2, patch merging) an int8 GEMM with its per-channel weight
        and per-tensor input scales; what the placement keeps in float (LayerNorm, GELU, softmax, residuals,
        head) runs in `dtype`.
        "fp8" (needs the model quantized with FP8 E4M3 quantizers, the swin_fp8 recipe): the same with the FP8
        node and fp8 GEMMs (e4m3 weights and activations, per-tensor scales, fp32 accumulation); dtype float16.
    dtype: the activations' dtype between the kernels (float16; float32 reproduces the fake-quant model's
        arithmetic, for checks).
    device: default cuda where present, else cpu (which needs TRITON_INTERPRET=1: tests only).
    compile: wrap in torch.compile(mode="reduce-overhead") (Inductor around the ops, CUDA graphs).
    """
    if precision not in PRECISIONS:
        raise EdgeSwinError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    dtype = IO_DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype
    if dtype not in IO_DTYPES.values():
        raise EdgeSwinError(f"dtype {dtype}: use torch.float16 (fast) or torch.float32 (exact reference)")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    reason = unavailable_reason(device)
    if reason:
        raise RuntimeUnavailable(reason)
    source = load_model(model_or_checkpoint, arch, num_classes)
    quantized = _quantized_as(source)
    if precision in QUANTIZED and quantized != precision:
        raise EdgeSwinError(f"precision={precision!r} needs the model quantized for it: the QAT checkpoint "
                            f"(runs/<name>/qat/*.pth) or a model calibrated with edge_swin.quant.calibrate and the "
                            f"swin_{precision} recipe" + (f"; this one is {quantized}" if quantized else ""))
    if precision == "fp16" and quantized:
        raise EdgeSwinError("precision='fp16' takes the FP32 model (runs/<name>/train/model.pth), not the quantized "
                            f"one; use precision={quantized!r} for the QAT checkpoint")
    if precision == "fp8" and dtype != torch.float16:
        raise EdgeSwinError("precision='fp8' runs with dtype=torch.float16 (the FP8 kernels' io)")
    _check_blocks(source)
    model = _quantized_model(source, dtype, fp8=quantized == "fp8") if quantized else _fp16_model(source, dtype)
    runtime = RuntimeModel(model, precision, dtype).eval().to(device)
    if compile:
        return torch.compile(runtime, mode="reduce-overhead")
    return runtime


def load_model(source, arch: str | None = None, num_classes: int | None = None) -> nn.Module:
    """A model from what convert() accepts: a module as it is, a run's FP32 weights, or the QAT checkpoint."""
    if isinstance(source, nn.Module):
        return source
    path = Path(source)
    if not path.is_file():
        raise EdgeSwinError(f"no model file at {path}: give train/model.pth (FP32) or qat/int8.pth (QAT) of a run")
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() and json.loads(sidecar.read_text()).get("format", "").startswith("edge-swin-int8"):
        from edge_swin.quant import load_quantized

        return load_quantized(path)
    from edge_swin.models import create_swin, load_checkpoint, read_state_dict

    state = read_state_dict(path)  # a missing or corrupt file fails here with the fix
    raw = {} if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
    if "modelopt_state" in raw:
        raise EdgeSwinError(f"{path} is a modelopt checkpoint without its sidecar {sidecar.name}: load it with "
                            "edge_swin.quant.load_quantized(path, model) and pass the model")
    variant = arch or raw.get("variant")
    if variant is None:
        raise EdgeSwinError(f"{path} does not name its model variant: pass arch= (e.g. 'swin_t')")
    head = state.get("head.fc.weight", state.get("head.weight"))
    classes = num_classes or (len(raw["classes"]) if raw.get("classes") else None) or (
        int(head.shape[0]) if head is not None else 1000)
    model = create_swin(variant, num_classes=classes)
    load_checkpoint(model, path)
    return model.eval()


def _quantized_as(model: nn.Module) -> str | None:
    """None for a float model, "fp8" when its qkv input quantizers are FP8 E4M3, else "int8"."""
    from edge_swin.export.qdq import is_quantized_model
    from edge_swin.plugins.swin_window_attention.emulate import is_fp8_block

    if not is_quantized_model(model):
        return None
    blocks = [m for m in model.modules() if isinstance(m, WindowAttention)]
    return "fp8" if blocks and all(is_fp8_block(m) for m in blocks) else "int8"


def _check_blocks(model: nn.Module) -> None:
    blocks = [m for m in model.modules() if isinstance(m, WindowAttention)]
    if not blocks:
        raise EdgeSwinError(f"{type(model).__name__} has no WindowAttention: convert takes an edge_swin Swin model "
                            "(edge_swin.models.create_swin)")
    for m in blocks:
        if m.head_dim != HEAD_DIM or tuple(m.window_size) not in WINDOWS:
            raise EdgeSwinError(f"block {m.extra_repr()}: the kernels take head dim {HEAD_DIM} and windows "
                                f"{', '.join(f'{a}x{b}' for a, b in WINDOWS)}; run this model in PyTorch")


def _fp16_model(source: nn.Module, dtype: torch.dtype) -> nn.Module:
    model = copy.deepcopy(source).cpu().eval()
    for name, m in list(model.named_modules()):
        if isinstance(m, WindowAttention):
            _replace(model, name, FusedWindowAttention(m, dtype))
    return model.to(dtype)


def _quantized_model(source: nn.Module, dtype: torch.dtype, fp8: bool = False) -> nn.Module:
    """A plain Swin with the quantized model's float weights, its blocks and quantized Linears swapped for ours
    (INT8, or with fp8 the FP8 node and fp8 GEMMs).

    Every enabled quantizer must be consumed by a swap; one the runtime has no kernel for is an error, never
    silently dropped (the result would be a different model from the one QAT trained).
    """
    from edge_swin.export.errors import ExportError
    from edge_swin.export.qdq import block_scales, enabled_quantizers, qparams
    from edge_swin.models import create_swin

    src = copy.deepcopy(source).cpu().eval()
    variant, config = getattr(src, "variant", None), getattr(src, "config", None)
    if variant is None or config is None:
        raise EdgeSwinError("the quantized model does not say its variant/config: build it with "
                            "edge_swin.models.create_swin, or load it with edge_swin.quant.load_quantized")
    model = create_swin(variant, **config).eval()
    wanted = model.state_dict()
    state = {k: v for k, v in src.state_dict().items() if k in wanted}
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise EdgeSwinError(f"the quantized model lacks {len(missing)} float weights of {variant} "
                            f"(first: {missing[0]}): is it an edge_swin Swin?")
    model.load_state_dict(state)

    pending = set(enabled_quantizers(src))
    try:
        for name, m in list(src.named_modules()):
            if isinstance(m, WindowAttention):
                node = FusedWindowAttention(m, dtype, fp8=True) if fp8 else FusedWindowAttention(m, dtype,
                                                                                                 block_scales(m, name))
                pending -= {f"{name}.{q}" for q in _BLOCK_QUANTIZER_PATHS}
                _replace(model, name, node)
        for name, m in list(src.named_modules()):
            wq, xq = getattr(m, "weight_quantizer", None), getattr(m, "input_quantizer", None)
            if f"{name}.weight_quantizer" not in pending or xq is None or not xq.is_enabled:
                continue
            if fp8:
                new = Fp8PatchConv(m, dtype) if isinstance(m, nn.Conv2d) else Fp8Linear(m, dtype) if isinstance(
                    m, nn.Linear) else None
                if new is not None:
                    _replace(model, name, new)
                    pending -= {f"{name}.weight_quantizer", f"{name}.input_quantizer"}
                continue
            w_p, x_p = qparams(wq, f"{name}.weight_quantizer"), qparams(xq, f"{name}.input_quantizer")
            if w_p.axis not in (0, None) or x_p.axis is not None:
                raise EdgeSwinError(f"{name}: the int8 GEMM takes per-output-channel weights and a per-tensor input")
            if isinstance(m, nn.Conv2d):
                new = Int8PatchConv(m, x_p, w_p, dtype)
            elif isinstance(m, nn.Linear):
                new = Int8Linear(m._parameters["weight"], m.bias, x_p, w_p, dtype)
            else:
                continue
            _replace(model, name, new)
            pending -= {f"{name}.weight_quantizer", f"{name}.input_quantizer"}
    except (ExportError, ValueError) as err:
        raise EdgeSwinError(f"cannot run this quantized model on the {'FP8' if fp8 else 'INT8'} kernels: {err}") from None
    if pending:
        kind = "FP8" if fp8 else "INT8"
        raise EdgeSwinError(f"{len(pending)} enabled quantizer(s) have no {kind} kernel in the runtime: "
                            f"{', '.join(sorted(pending)[:5])}. It runs the swin_{kind.lower()} placement "
                            "(edge_swin.quant.config); run other placements in PyTorch or ONNX Runtime")
    return model.to(dtype)


_BLOCK_QUANTIZER_PATHS = tuple(path for _, path, _ in BLOCK_QUANTIZERS)


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)
