"""Accuracy report (FP32 / PTQ / QAT) and the max-drop check."""
from __future__ import annotations

import pytest


def test_report_compares_every_model_on_the_same_images(quant, fp32_model, ptq, val_loader):
    report = quant.accuracy_report(fp32_model, ptq, val_loader, qat=ptq, max_drop=100.0)
    assert report["n"] == 20 and report["checked"] == "qat" and report["passed"] is True
    fp32, p, q = (report["models"][k] for k in ("fp32", "ptq", "qat"))
    assert set(fp32) == {"top1", "top5", "loss"}
    for m in (p, q):
        assert m["top1_drop"] == pytest.approx(fp32["top1"] - m["top1"], abs=1e-3)
        assert m["top5_drop"] == pytest.approx(fp32["top5"] - m["top5"], abs=1e-3)
        assert 0.0 <= m["top1_agreement"] <= 100.0 and m["mean_cosine"] > 0.9
    assert p == q
    text = quant.format_report(report)
    assert "PASS" in text and "qat" in text
    quant.check_accuracy_drop(report)  # within 100 points: no error


def _report(drop, checked="qat"):
    fp32 = {"top1": 80.0, "top5": 95.0, "loss": 0.7}
    int8 = {"top1": 80.0 - drop, "top5": 94.0, "loss": 0.8, "top1_drop": drop, "top5_drop": 1.0,
            "top1_agreement": 97.0, "mean_cosine": 0.99}
    return {"n": 1000, "max_drop": 1.0, "checked": checked, "passed": drop <= 1.0,
            "models": {"fp32": fp32, checked: int8}}


def test_max_drop_check(quant):
    quant.check_accuracy_drop(_report(0.99))
    with pytest.raises(quant.QuantizationError, match=r"drop of 1\.50 points, over the allowed 1\.00") as err:
        quant.check_accuracy_drop(_report(1.5))
    assert isinstance(err.value, quant.QuantizationError.__mro__[1])  # an EdgeSwinError
    with pytest.raises(quant.QuantizationError, match="run QAT"):
        quant.check_accuracy_drop(_report(3.0, checked="ptq"))
    quant.check_accuracy_drop(_report(1.5), max_drop=2.0)


def test_a_nan_limit_fails_the_check_as_the_report_says(quant):
    """A NaN limit used to print FAIL and pass the check (drop > nan is False): the run exported anyway."""
    report = _report(0.5)
    report["max_drop"], report["passed"] = float("nan"), False
    with pytest.raises(quant.QuantizationError, match="over the allowed nan"):
        quant.check_accuracy_drop(report)
