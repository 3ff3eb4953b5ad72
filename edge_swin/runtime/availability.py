"""Can the runtime's Triton kernels run on a device here? Answered without importing triton or the kernels."""
from __future__ import annotations

import importlib.util
import os

import torch


def unavailable_reason(device: torch.device | str) -> str | None:
    """None if the kernels can run on `device`; otherwise why not, naming the fix."""
    device = torch.device(device)
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (it comes with PyTorch's Linux CUDA wheels): install torch with CUDA on Linux"
    if device.type == "cuda":
        return None if torch.cuda.is_available() else "no CUDA GPU: torch.cuda.is_available() is False"
    if device.type == "cpu":
        if os.environ.get("TRITON_INTERPRET") == "1":
            return None
        return ("the runtime's Triton kernels need a CUDA GPU; on a CPU they run only under Triton's interpreter "
                "(set TRITON_INTERPRET=1 before anything imports triton; slow, for tests)")
    return f"device {device.type!r}: the runtime's Triton kernels run on CUDA GPUs (or a CPU under TRITON_INTERPRET=1)"
