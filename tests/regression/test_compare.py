"""edge_swin.bench.regression.compare on hand-made numbers: what passes, what fails, and why."""
from edge_swin.bench import compare

BASE = {"accuracy": {"pytorch_fp32": {"top1": 90.0, "agreement": 100.0},
                     "onnxruntime_fp32": {"top1": 90.0, "agreement": 100.0}},
        "latency_ratio": {"onnxruntime_fp32/pytorch_fp32@8": 0.6}}


def test_same_numbers_pass():
    assert compare(BASE, BASE) == []


def test_better_numbers_pass():
    better = {"accuracy": {k: {"top1": 95.0, "agreement": 100.0} for k in BASE["accuracy"]},
              "latency_ratio": {"onnxruntime_fp32/pytorch_fp32@8": 0.3}}
    assert compare(better, BASE) == []


def test_top1_drop_beyond_tolerance_fails():
    worse = {**BASE, "accuracy": {**BASE["accuracy"], "onnxruntime_fp32": {"top1": 88.5, "agreement": 99.0}}}
    failures = compare(worse, BASE, {"top1_drop": 1.0})
    assert len(failures) == 1 and "onnxruntime_fp32" in failures[0] and "top-1 88.50%" in failures[0]
    assert compare(worse, BASE, {"top1_drop": 2.0}) == []


def test_agreement_floor_per_backend():
    low = {**BASE, "accuracy": {**BASE["accuracy"], "onnxruntime_fp32": {"top1": 90.0, "agreement": 97.0}}}
    assert any("agreement" in f for f in compare(low, BASE, {"agreement_floor": 98.0}))
    assert compare(low, BASE, {"agreement_floor": {"onnxruntime_fp32": 95.0, "default": 99.0}}) == []


def test_latency_ratio_growth_fails():
    slow = {**BASE, "latency_ratio": {"onnxruntime_fp32/pytorch_fp32@8": 0.95}}
    failures = compare(slow, BASE, {"latency_ratio": 0.5})
    assert len(failures) == 1 and "0.950 > baseline 0.600" in failures[0]
    assert compare({**BASE, "latency_ratio": {"onnxruntime_fp32/pytorch_fp32@8": 0.85}}, BASE, {"latency_ratio": 0.5}) == []


def test_missing_measurement_fails():
    failures = compare({"accuracy": {"pytorch_fp32": {"top1": 90.0}}}, BASE)
    assert any("onnxruntime_fp32: in the baseline but not measured" in f for f in failures)
    assert any("latency_ratio" in f and "not measured" in f for f in failures)
