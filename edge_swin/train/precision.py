"""Mixed precision for training and QAT: autocast in bf16 or fp16 (with gradient scaling), or plain fp32.

"auto" picks bf16 on a GPU that has it (Ampere and newer, Orin included), fp16
with a GradScaler on older GPUs (T4, Volta), fp32 on a CPU (CPU autocast
rarely pays on the CPUs this runs on; bf16 can still be asked for).
"""
from __future__ import annotations

import contextlib

import torch

from edge_swin.errors import EdgeSwinError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """The concrete precision ("bf16", "fp16" or "fp32") for `device`; a clear error for what cannot run."""
    if precision not in PRECISIONS:
        raise EdgeSwinError(f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}")
    kind = torch.device(device).type
    if precision == "auto":
        if kind != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    if precision == "fp16" and kind != "cuda":
        raise EdgeSwinError("--precision fp16 needs a CUDA GPU (fp16 training on a CPU is slow and unscaled): "
                            "use --precision bf16 or fp32 on a CPU")
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise EdgeSwinError(f"--precision bf16: {torch.cuda.get_device_name()} has no bf16; use --precision fp16 "
                            "(with gradient scaling) or auto")
    return precision


def autocast(precision: str, device: str | torch.device):
    """The forward pass's context: autocast to bf16/fp16, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[precision])


def grad_scaler(precision: str, device: str | torch.device) -> torch.amp.GradScaler:
    """A GradScaler that scales only for fp16 (bf16 has fp32's range); disabled ones pass everything through."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")
