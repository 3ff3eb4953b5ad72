"""INT8 checkpoints: modelopt's `mto.save` format, plus a JSON sidecar that says how to rebuild the FP32 model.

`path` holds {"modelopt_state", "model_state_dict"} exactly as `mto.save`
writes it, so any code can reload it with

    import edge_swin.quant                      # registers QuantWindowAttention with modelopt
    model = mto.restore(create_swin(...), path)  # same variant/config as the sidecar says

`path.with_suffix(".json")` records the variant and constructor arguments
(`model.variant`, `model.config` from `create_swin`) and whatever metadata the
caller adds; `load_quantized(path)` uses it to rebuild the model by itself.
Both files get a `.sha256` digest beside them, which `load_quantized` checks.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn
import modelopt
import modelopt.torch.opt as mto
from modelopt.torch.quantization.utils import is_quantized

import edge_swin.quant.attention  # noqa: F401  (registers WindowAttention with modelopt before any restore)
from edge_swin.quant.errors import QuantizationError
from edge_swin.utils.io import atomic_path, read_json, verify_digest, write_json

FORMAT = "edge-swin-int8/1"


def sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_quantized(model: nn.Module, path: str | Path, metadata: dict | None = None) -> Path:
    """Write `model` (quantized) with `mto.save`, atomically, and its JSON sidecar; returns `path`."""
    path = Path(path)
    if not is_quantized(model):
        raise QuantizationError("save_quantized got a model without quantizers: "
                                "calibrate it first (edge_swin.quant.calibrate)")
    with atomic_path(path, digest=True) as tmp:
        mto.save(model, tmp)
    write_json(sidecar(path), {"format": FORMAT, "variant": getattr(model, "variant", None),
                               "config": getattr(model, "config", None), "modelopt": modelopt.__version__,
                               **(metadata or {})}, digest=True)
    return path


def verify_quantized(path: str | Path, fix: str) -> None:
    """Raise CorruptFileError (naming the file and `fix`) unless the checkpoint and its sidecar match their digests."""
    verify_digest(path, fix)
    verify_digest(sidecar(path), fix)


def load_quantized(path: str | Path, model: nn.Module | None = None, fix: str = "") -> nn.Module:
    """The quantized model saved at `path`, restored with `mto.restore`, in eval mode.

    model: a fresh FP32 model of the same architecture to restore into; None
    builds it from the sidecar (`create_swin(variant, **config)`).
    fix: what the message of a corrupted file tells the user to do (default: write the checkpoint again).
    """
    path = Path(path)
    fix = fix or "write it again (rerun the step that saved it)"
    if not path.is_file():
        raise QuantizationError(f"no INT8 checkpoint at {path}: run the QAT stage first (or check the path)")
    verify_digest(path, fix)
    if model is None:
        meta_path = sidecar(path)
        if not meta_path.is_file():
            raise QuantizationError(f"{path} has no sidecar {meta_path.name} naming its model: "
                                    "pass the FP32 model to load_quantized, or rerun the QAT stage to write it again")
        from edge_swin.models import create_swin

        meta = read_json(meta_path, fix)
        if not meta.get("variant"):
            raise QuantizationError(f"{meta_path} does not name a model variant: pass the FP32 model to load_quantized")
        model = create_swin(meta["variant"], **(meta.get("config") or {}))
    if is_quantized(model):
        raise QuantizationError("load_quantized restores into an FP32 model; this one already has quantizers")
    try:
        model = mto.restore(model, path)
    except (RuntimeError, KeyError, ValueError) as err:
        raise QuantizationError(f"cannot restore {path} into {type(model).__name__} ({type(err).__name__}: {str(err)[:300]}): "
                                "build the model with the same variant, num_classes and img_size as when it was saved") from None
    return model.eval()
