"""The one place that imports TensorRT: `tensorrt` (full TensorRT, NGC / JetPack) or `tensorrt_rtx` (TensorRT-RTX).

Everything else gets the module through `load()` and talks to the part of the
API both share (Builder, OnnxParser, BuilderConfig, Logger, serialized
networks), so the code CI runs on a CPU through TensorRT-RTX is the code users
run with TensorRT on a GPU.

Which flavour: `EDGE_SWIN_TRT` = "tensorrt" | "tensorrt_rtx" forces one;
otherwise full TensorRT where it imports, else TensorRT-RTX.

TensorRT-RTX needs one thing before its import: `edge_swin.trt.rtx_alias.preload` (why: its module doc).
"""
from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass

from edge_swin.errors import EdgeSwinError
from edge_swin.trt import rtx_alias

FLAVOURS = ("tensorrt", "tensorrt_rtx")


class TensorRTUnavailable(EdgeSwinError):
    """Neither TensorRT nor TensorRT-RTX imports here."""


@dataclass(frozen=True)
class Backend:
    trt: object          # the imported module
    flavour: str         # "tensorrt" or "tensorrt_rtx"
    version: str

    @property
    def is_rtx(self) -> bool:
        return self.flavour == "tensorrt_rtx"

    @property
    def major(self) -> int:
        """The release's major number (TensorRT 10 / 11; TensorRT-RTX 1)."""
        try:
            return int(self.version.split(".")[0])
        except ValueError:
            return 0

    @property
    def weak_typing(self) -> bool:
        """Whether a weakly typed network with the FP16/INT8 builder flags exists (TensorRT 10.x; not 11, not RTX).

        TensorRT 11 removed BuilderFlag.kFP16/kINT8 and ignores kSTRONGLY_TYPED (always strongly typed: see
        third_party/tensorrt-11.1/include/NvInfer.h); TensorRT-RTX networks are always strongly typed.
        """
        return not self.is_rtx and hasattr(self.trt.BuilderFlag, "FP16") and hasattr(self.trt.BuilderFlag, "INT8")

    @property
    def timing_cache(self) -> bool:
        """Whether the builder has a timing cache worth persisting (TensorRT-RTX >= 1.2: its calls are no-ops)."""
        return not self.is_rtx and hasattr(self.trt.IBuilderConfig, "create_timing_cache")


def _import(flavour: str):
    if flavour == "tensorrt_rtx":
        rtx_alias.preload()
    return importlib.import_module(flavour)


@functools.lru_cache(maxsize=None)
def load(flavour: str | None = None) -> Backend:
    """The TensorRT module to use: `flavour`, $EDGE_SWIN_TRT, else tensorrt, else tensorrt_rtx."""
    wanted = flavour or os.environ.get("EDGE_SWIN_TRT") or None
    if wanted is not None and wanted not in FLAVOURS:
        raise TensorRTUnavailable(f"unknown TensorRT flavour '{wanted}': use one of {', '.join(FLAVOURS)}")
    errors = []
    for name in ([wanted] if wanted else list(FLAVOURS)):
        try:
            mod = _import(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        return Backend(trt=mod, flavour=name, version=str(getattr(mod, "__version__", "?")))
    raise TensorRTUnavailable(
        "no TensorRT here (" + "; ".join(errors) + "). Install TensorRT (NGC container, JetPack) or, "
        "to parse and build on a CPU, `pip install tensorrt-rtx-cu13`.")


def available(flavour: str | None = None) -> bool:
    try:
        load(flavour)
        return True
    except TensorRTUnavailable:
        return False
