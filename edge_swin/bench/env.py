"""The header every benchmark result carries: the machine, the load on it, the versions; and a device id."""
from __future__ import annotations

import importlib
import os
import datetime
import platform
import re


def _version(module: str) -> str | None:
    try:
        return str(getattr(importlib.import_module(module), "__version__", "?"))
    except Exception:  # not installed, or broken: either way it did not run here
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        pass
    return None


def device_id(cuda: bool | None = None) -> str:
    """A file-name-safe id of the machine class results belong to: 'cpu-2core', 'nvidia-h100-80gb-hbm3'."""
    gpu = gpu_name() if cuda is not False else None
    if gpu:
        return re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"cpu-{cpu_count()}core"


def header(threads: int | None = None) -> dict:
    import torch
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.date.today().isoformat(),
        "device_id": device_id(),
        "cpu": cpu_model(),
        "cpu_cores": cpu_count(),
        "gpu": gpu_name(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "torch_threads": threads or torch.get_num_threads(),
        "load_average_1_5_15": [round(x, 2) for x in load] if load else None,
        "nice": os.nice(0) if hasattr(os, "nice") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {m: _version(m) for m in ("torch", "onnxruntime", "onnx", "tensorrt", "tensorrt_rtx", "modelopt")},
    }
