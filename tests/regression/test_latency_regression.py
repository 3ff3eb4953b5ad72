"""Latency as a ratio to PyTorch eager FP32 measured in the same test; an artificially slowed backend must fail."""
import torch

from edge_swin.bench import compare, measure_latency_ratio, ratio_key
from edge_swin.bench.reference import IMG

from .baseline import load_baseline

BATCH = 8
KEY = ratio_key("onnxruntime_fp32", "pytorch_fp32", BATCH)
TOLERANCES = {"latency_ratio": 0.5}  # +50%: a loaded shared 2-core runner moves the ratio by up to ~20%


class Slowed:
    """A runner that does its work `factor` times per call: the same backend, `factor` x slower."""

    def __init__(self, runner, factor: int = 3):
        self.runner, self.factor = runner, factor

    def prepare(self, images):
        return self.runner.prepare(images)

    def run(self, x):
        for _ in range(self.factor):
            out = self.runner.run(x)
        return out


def _ratio(runner, reference):
    torch.set_num_threads(1)
    return measure_latency_ratio(runner, reference["runners"]["pytorch_fp32"], BATCH, IMG)


def test_ort_latency_ratio_within_baseline(reference):
    baseline, _ = load_baseline()
    measured = {"latency_ratio": {KEY: _ratio(reference["runners"]["onnxruntime_fp32"], reference)}}
    assert compare(measured, {"latency_ratio": baseline["latency_ratio"]}, TOLERANCES) == []


def test_slowed_backend_fails_the_latency_check(reference):
    baseline, _ = load_baseline()
    measured = {"latency_ratio": {KEY: _ratio(Slowed(reference["runners"]["onnxruntime_fp32"]), reference)}}
    failures = compare(measured, {"latency_ratio": baseline["latency_ratio"]}, TOLERANCES)
    assert len(failures) == 1 and failures[0].startswith(f"latency_ratio/{KEY}"), failures
