"""Accuracy per backend against benchmarks/baselines/<device>.json; a corrupted model must fail the same check."""
from edge_swin.bench import compare, measure_accuracy
from edge_swin.bench.backends import TorchRunner
from edge_swin.bench.reference import corrupt

from .baseline import load_baseline

TOLERANCES = {"top1_drop": 2.0, "agreement_floor": 99.0}


def _accuracy_only(baseline):
    return {"accuracy": baseline["accuracy"]}


def test_backends_match_baseline_accuracy(reference):
    baseline, _ = load_baseline()
    measured = measure_accuracy(reference["runners"], reference["images"], reference["labels"])
    assert compare(measured, _accuracy_only(baseline), TOLERANCES) == []
    assert measured["accuracy"]["onnxruntime_fp32"]["agreement"] == 100.0


def test_corrupted_weights_fail_the_accuracy_check(reference):
    """Injected regression: noisy Linear weights in the FP32 model (its agreement is with the healthy FP32)."""
    baseline, _ = load_baseline()
    import torch

    torch.set_num_threads(1)
    runners = dict(reference["runners"])
    runners["damaged"] = TorchRunner("pytorch_fp32", corrupt(reference["model"]), "cpu", torch.float32)
    measured = measure_accuracy(runners, reference["images"], reference["labels"])
    measured["accuracy"]["pytorch_fp32"] = measured["accuracy"].pop("damaged")
    failures = compare(measured, _accuracy_only(baseline), TOLERANCES)
    assert any(f.startswith("accuracy/pytorch_fp32: top-1") for f in failures), failures
    assert any(f.startswith("accuracy/pytorch_fp32: top-1 agreement") for f in failures), failures
