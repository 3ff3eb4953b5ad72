"""Post-training calibration: insert the Swin INT8 quantizers and set their scales from a calibration subset.

The calibration subset is drawn by `calib.draw_calibration_set` (seeded,
class-balanced, recorded in a manifest); `calibration_loader` wraps it in a
DataLoader that never shuffles, so the same seed gives the same scales.

A calibrated model is saved under `cache_dir` with `save_quantized` (an
`mto.save` file plus its JSON sidecar, so `load_quantized(result.path)`
reloads it), in a file named by a hash of everything the scales depend on
(FP32 weights, placement config, method and its arguments, the images'
identity, batch size, modelopt version). A rerun with the same inputs restores that file instead of
calibrating again; any change gives a new key, so a stale file is never used.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset, TensorDataset

import modelopt
import modelopt.torch.opt as mto
import modelopt.torch.quantization as mtq
from modelopt.torch.quantization.calib import HistogramCalibrator
from modelopt.torch.quantization.model_calib import enable_stats_collection, weight_only_quantize
from modelopt.torch.quantization.utils import is_quantized

from calib.sampler import CalibrationSet, draw_calibration_set
from edge_swin.quant.checkpoint import save_quantized, verify_quantized
from edge_swin.quant.config import (CALIBRATION_METHODS, DEFAULT_RECIPE, enabled_quantizers, get_recipe, recipe_name,
                                    with_method)
from edge_swin.quant.errors import QuantizationError
from edge_swin.utils.io import sha256_json
from edge_swin.utils.progress import progress as progress_bar

DEFAULT_PERCENTILE = 99.99
# modelopt's entropy search tries every `stride`-th of its 2048 histogram bins as the clip point, in pure
# Python: stride 1 took ~7 s per quantizer on our 2-core CPU; 8 is ~8x faster, a clip-point resolution of
# 8/2048 of the observed range.
DEFAULT_ENTROPY_STRIDE = 8


@dataclass
class CalibrationResult:
    """What `calibrate` did. `model` is the calibrated (fake-quantized) model, the same object passed in."""

    model: nn.Module
    method: str
    key: str
    path: Path | None  # the cached mto checkpoint, if a cache_dir was given
    from_cache: bool
    seconds: float
    num_quantizers: int
    inputs: dict = field(default_factory=dict)  # what the key was computed from

    def manifest(self) -> dict:
        return {"method": self.method, "key": self.key, "path": str(self.path) if self.path else None,
                "from_cache": self.from_cache, "seconds": round(self.seconds, 3),
                "num_quantizers": self.num_quantizers, **self.inputs}


def calibration_loader(dataset, size: int = 512, seed: int = 0, batch_size: int = 32, class_balanced: bool = True,
                       num_workers: int = 0) -> tuple[DataLoader, CalibrationSet]:
    """A non-shuffling DataLoader over a seeded, class-balanced subset of `dataset`, and the subset's record."""
    calib_set = draw_calibration_set(dataset, size, seed=seed, class_balanced=class_balanced)
    loader = DataLoader(Subset(dataset, calib_set.indices), batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return loader, calib_set


def insert_quantizers(model: nn.Module, config: dict | None = None, method: str = "max",
                      recipe: str = DEFAULT_RECIPE) -> nn.Module:
    """Convert `model` in place to a fake-quantized model with the placement of `config` (default: the recipe's).

    Scales are not set: run `calibrate` (which calls this) before using the model.
    """
    if is_quantized(model):
        raise QuantizationError("the model already has quantizers: pass the FP32 model (e.g. a fresh create_swin + checkpoint)")
    config = get_recipe(recipe).config(method) if config is None else with_method(config, method)
    return mtq.quantize(model, {**config, "algorithm": None}, forward_loop=None)


def model_digest(model: nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and values of the state dict."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def data_fingerprint(loader: DataLoader) -> dict:
    """What identifies the images a loader yields, without loading them: subset indices, dataset identity, transform."""
    dataset, subsets = loader.dataset, []
    while isinstance(dataset, Subset):
        subsets.append(hashlib.sha256(torch.as_tensor(list(dataset.indices), dtype=torch.int64).numpy().tobytes()).hexdigest())
        dataset = dataset.dataset
    info: dict = {"batch_size": loader.batch_size, "num_images": len(loader.dataset), "subsets": subsets,
                  "dataset": type(dataset).__name__, "dataset_len": len(dataset),
                  "sampler": type(loader.sampler).__name__}
    for attr in ("root", "name", "classes"):
        if hasattr(dataset, attr):
            info[attr] = str(getattr(dataset, attr)) if attr == "root" else getattr(dataset, attr)
    if getattr(dataset, "transform", None) is not None:
        info["transform"] = repr(dataset.transform)
    if isinstance(dataset, TensorDataset):
        digest = hashlib.sha256()
        for tensor in dataset.tensors:
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        info["tensors_sha256"] = digest.hexdigest()
    return info


def _forward_loop(loader: DataLoader, device: torch.device, desc: str, progress: bool = True):
    def loop(model: nn.Module) -> None:
        seen = 0
        with torch.no_grad():
            for images, *_ in progress_bar(loader, desc=desc, unit="batch", leave=False, disable=not progress):
                model(images.to(device))
                seen += len(images)
        if seen == 0:
            raise QuantizationError("the calibration loader yielded no images: give calibrate a non-empty calibration set")
    return loop


def _histogram_calibrate(model: nn.Module, loop, method: str, method_kwargs: dict) -> None:
    """Collect statistics with modelopt's calibrators, then set amax: histogram `method` for activations, max for weights."""
    enable_stats_collection(model)
    weight_only_quantize(model)
    loop(model)
    for name, quantizer in enabled_quantizers(model).items():
        calibrator = getattr(quantizer, "_calibrator", None)
        if calibrator is None or quantizer._dynamic:
            continue
        if isinstance(calibrator, HistogramCalibrator):
            quantizer.load_calib_amax(method, **method_kwargs)
        else:
            quantizer.load_calib_amax()
        quantizer.enable_quant()
        quantizer.disable_calib()


def _check_scales(model: nn.Module) -> int:
    bad = []
    enabled = enabled_quantizers(model)
    for name, quantizer in enabled.items():
        amax = quantizer.amax
        if amax is None or not torch.isfinite(amax).all() or (amax <= 0).any():
            bad.append(name)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise QuantizationError(f"calibration left {len(bad)} quantizer(s) without a usable scale ({shown}): "
                                "the calibration images never reached them or were all zero; check the calibration set")
    return len(enabled)


def calibrate(model: nn.Module, loader: DataLoader, method: str = "max", *, config: dict | None = None,
              recipe: str = DEFAULT_RECIPE, cache_dir: str | Path | None = None, percentile: float = DEFAULT_PERCENTILE,
              entropy_stride: int = DEFAULT_ENTROPY_STRIDE, calib_set: CalibrationSet | None = None,
              device: str | torch.device | None = None, progress: bool = True) -> CalibrationResult:
    """Insert INT8 quantizers into the FP32 `model` (in place) and calibrate them on `loader`.

    method: 'max' runs modelopt's max calibration (`mtq.calibrate`); 'percentile'
    (clip at `percentile`) and 'entropy' (minimum KL divergence, candidate clip
    points every `entropy_stride` bins) collect histograms of the activations
    with modelopt's HistogramCalibrator (weights: max per channel).
    config / recipe: the placement: a modelopt config, else the named recipe's (edge_swin.quant.config.RECIPES).
    cache_dir: where calibrated models are kept by input hash; None disables the cache.
    calib_set: the subset's record (from `calibration_loader`), stored in the manifest.
    """
    if method not in CALIBRATION_METHODS:
        raise QuantizationError(f"unknown calibration method '{method}': choose one of {', '.join(CALIBRATION_METHODS)}")
    if is_quantized(model):
        raise QuantizationError("calibrate takes the FP32 model and inserts the quantizers itself; this one is already quantized")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    config = get_recipe(recipe).config(method) if config is None else with_method(config, method)
    method_kwargs = {"percentile": {"percentile": percentile}, "entropy": {"stride": entropy_stride}}.get(method, {})
    inputs = {"config_name": recipe_name(config, method),
              "quant_config": config, "method_kwargs": method_kwargs, "model_sha256": model_digest(model),
              "data": data_fingerprint(loader), "modelopt": modelopt.__version__,
              "torch": torch.__version__.split("+")[0],
              "calibration_set": calib_set.manifest() if calib_set is not None else None}
    key = sha256_json(inputs)
    path = Path(cache_dir) / f"calib_{method}_{key[:16]}.pth" if cache_dir is not None else None

    started = time.perf_counter()
    if path is not None and path.is_file():
        verify_quantized(path, f"delete {path} to recalibrate")
        try:
            mto.restore(model, path)
        except Exception as err:  # restore may have half-converted the model: stop, name the file
            raise QuantizationError(f"cannot restore the cached calibration {path} ({type(err).__name__}: {err}); "
                                    "delete it to recalibrate") from None
        num = _check_scales(model)
        model.eval()
        return CalibrationResult(model, method, key, path, True, time.perf_counter() - started, num, _public(inputs))

    model.eval()
    loop = _forward_loop(loader, device, f"calibrate ({method})", progress)
    insert_quantizers(model, config, method)
    if method == "max":
        # One process calibrates on all of its images: no amax all-reduce across torchrun ranks (modelopt's
        # default when a process group exists, which would wait for ranks that restore the cache instead).
        mtq.calibrate(model, algorithm={"method": "max", "distributed_sync": False}, forward_loop=loop)
    else:
        _histogram_calibrate(model, loop, method, method_kwargs)
    num = _check_scales(model)
    seconds = time.perf_counter() - started
    if path is not None:  # an ordinary INT8 checkpoint: load_quantized(path) reloads it
        save_quantized(model, path, metadata={"stage": "calibration", "key": key, "seconds": round(seconds, 3),
                                              "num_quantizers": num, **inputs})
    return CalibrationResult(model, method, key, path, False, seconds, num, _public(inputs))


def _public(inputs: dict) -> dict:
    """The parts of the key's inputs worth a manifest line (the full config lives in the cache's JSON)."""
    return {k: inputs[k] for k in ("config_name", "method_kwargs", "model_sha256", "calibration_set", "modelopt")}


def amax_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """amax of every enabled quantizer, by name (a copy): what calibration decided."""
    return {name: q.amax.detach().clone() for name, q in enabled_quantizers(model).items() if q.amax is not None}


def quantize_block(block: nn.Module, calib_x: torch.Tensor, recipe: str = DEFAULT_RECIPE) -> nn.Module:
    """A bare WindowAttention block with the recipe's attention sites, max-calibrated on `calib_x` (in place; eval).

    What the plugin's INT8 node and its tests take: the same quantizers as the block inside a quantized model.
    """
    insert_quantizers(block, get_recipe(recipe).block_config())
    mtq.calibrate(block, algorithm="max", forward_loop=lambda m: m(calib_x))
    return block.eval()
