"""Calibration: deterministic for a seed, cached by input hash, percentile clips below max."""
from __future__ import annotations

import copy

import pytest
import torch


def _calibrate(quant, model, dataset, seed, method="max", **kwargs):
    loader, calib_set = quant.calibration_loader(dataset, size=16, seed=seed, batch_size=16)
    return quant.calibrate(copy.deepcopy(model), loader, method, calib_set=calib_set, progress=False, **kwargs)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_calibration_is_deterministic_for_a_seed(quant, fp32_model, train_set, calibrated):
    again = _calibrate(quant, fp32_model, train_set, seed=0)
    assert _same(quant.amax_state(again.model), quant.amax_state(calibrated.model))
    assert again.key == calibrated.key
    other = _calibrate(quant, fp32_model, train_set, seed=1)
    assert other.key != calibrated.key
    assert not _same(quant.amax_state(other.model), quant.amax_state(calibrated.model))
    # weight scales do not depend on the images
    weights = lambda m: {k: v for k, v in quant.amax_state(m).items() if k.endswith("weight_quantizer")}  # noqa: E731
    assert _same(weights(other.model), weights(calibrated.model))


def test_percentile_is_deterministic_and_clips_activations(quant, fp32_model, train_set, calibrated):
    a = _calibrate(quant, fp32_model, train_set, seed=0, method="percentile", percentile=99.0)
    b = _calibrate(quant, fp32_model, train_set, seed=0, method="percentile", percentile=99.0)
    pa, pm = quant.amax_state(a.model), quant.amax_state(calibrated.model)
    assert _same(pa, quant.amax_state(b.model))
    assert pa.keys() == pm.keys()
    acts = [k for k in pa if not k.endswith("weight_quantizer")]
    assert all(pa[k] <= pm[k] * (1 + 1e-6) for k in acts)
    assert any(pa[k] < pm[k] for k in acts)
    assert all(torch.equal(pa[k], pm[k]) for k in pa if k.endswith("weight_quantizer"))


def test_calibration_is_cached_by_its_inputs(quant, fp32_model, train_set, calibrated, images):
    assert not calibrated.from_cache and calibrated.path.is_file() and calibrated.path.with_suffix(".json").is_file()
    cache_dir = calibrated.path.parent
    hit = _calibrate(quant, fp32_model, train_set, seed=0, cache_dir=cache_dir)
    assert hit.from_cache and hit.path == calibrated.path and hit.key == calibrated.key
    with torch.no_grad():
        assert torch.equal(hit.model(images), calibrated.model(images))
    # a different calibration set is a different key, never the stale file
    miss = _calibrate(quant, fp32_model, train_set, seed=5, cache_dir=cache_dir)
    assert not miss.from_cache and miss.path != calibrated.path
    # different FP32 weights: different key
    changed = copy.deepcopy(fp32_model)
    with torch.no_grad():
        changed.head.fc.bias.add_(1.0)
    assert not _calibrate(quant, changed, train_set, seed=0, cache_dir=cache_dir).from_cache


def test_calibrate_refuses_a_quantized_model(quant, calibrated, train_set):
    loader, _ = quant.calibration_loader(train_set, size=16, seed=0)
    with pytest.raises(quant.QuantizationError, match="FP32"):
        quant.calibrate(calibrated.model, loader)
