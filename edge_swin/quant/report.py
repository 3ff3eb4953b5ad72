"""Accuracy of FP32, PTQ and QAT models on one validation set, and the check that INT8 cost little enough.

The report (a plain dict, JSON-ready):

    {"n": images, "max_drop": points, "checked": "qat" | "ptq", "passed": bool,
     "models": {"fp32": {"top1", "top5", "loss"},
                "ptq":  {"top1", "top5", "loss", "top1_drop", "top5_drop", "top1_agreement", "mean_cosine"},
                "qat":  {... as ptq}}}

Drops are FP32 minus INT8 in percentage points (positive = INT8 is worse);
agreement is against the FP32 logits on the same images (share of equal
top-1, %, and mean cosine similarity of the logit vectors).
"""
from __future__ import annotations

import torch.nn as nn
from torch.utils.data import DataLoader

from edge_swin.eval import accuracy_from_logits, agreement, predict
from edge_swin.quant.errors import QuantizationError

DEFAULT_MAX_DROP = 1.0


def accuracy_report(fp32: nn.Module, ptq: nn.Module | None, val_loader: DataLoader, qat: nn.Module | None = None,
                    max_drop: float = DEFAULT_MAX_DROP, device: str = "cpu") -> dict:
    """Evaluate each model given on `val_loader` (same images, same order) and compare the INT8 ones to FP32.

    The pass/fail verdict is on the QAT model's top-1 drop, or on PTQ's when no QAT model is given;
    `check_accuracy_drop(report)` turns a fail into an error.
    """
    ref_logits, targets = predict(fp32, val_loader, device, desc="eval fp32")
    models = {"fp32": _rounded(accuracy_from_logits(ref_logits, targets))}
    for name, model in (("ptq", ptq), ("qat", qat)):
        if model is None:
            continue
        logits, t = predict(model, val_loader, device, desc=f"eval {name}")
        if not (t == targets).all():
            raise QuantizationError("the validation loader gave different images to different models: "
                                    "pass a loader that does not shuffle")
        metrics = accuracy_from_logits(logits, targets)
        metrics.update(top1_drop=models["fp32"]["top1"] - metrics["top1"], top5_drop=models["fp32"]["top5"] - metrics["top5"],
                       **agreement(logits, ref_logits))
        models[name] = _rounded(metrics)
    checked = "qat" if "qat" in models else ("ptq" if "ptq" in models else None)
    passed = None if checked is None else bool(models[checked]["top1_drop"] <= max_drop)
    return {"n": int(len(targets)), "max_drop": max_drop, "checked": checked, "passed": passed, "models": models}


def _rounded(metrics: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items() if k != "n"}


def check_accuracy_drop(report: dict, max_drop: float | None = None) -> None:
    """Raise QuantizationError if the checked INT8/FP8 model (report["format"], default int8) lost more than `max_drop` top-1 points (default: the report's)."""
    max_drop = report["max_drop"] if max_drop is None else max_drop
    checked = report.get("checked")
    if checked is None:
        return
    m = report["models"][checked]
    if not m["top1_drop"] <= max_drop:  # the report's verdict, whatever the limit: a NaN limit fails, never passes
        fp32 = report["models"]["fp32"]["top1"]
        hint = ("fine-tune longer or with more data (QAT epochs, lr), calibrate with another method "
                "(percentile/entropy) or more images, or keep more layers in higher precision")
        if checked == "ptq":
            hint = "run QAT (knowledge distillation) after calibration, or " + hint
        raise QuantizationError(
            f"{report.get('format', 'int8').upper()} ({checked.upper()}) top-1 is {m['top1']:.2f}% against FP32 {fp32:.2f}% on {report['n']} images: "
            f"a drop of {m['top1_drop']:.2f} points, over the allowed {max_drop:.2f}. To fix: {hint}; "
            "or raise max_drop if this loss is acceptable.")


def format_report(report: dict) -> str:
    """The report as a small text table."""
    lines = [f"{'model':<6} {'top-1':>8} {'top-5':>8} {'drop@1':>8} {'drop@5':>8} {'agree@1':>8} {'cosine':>8}"]
    for name, m in report["models"].items():
        extra = ("", "", "", "") if name == "fp32" else (f"{m['top1_drop']:.2f}", f"{m['top5_drop']:.2f}",
                                                        f"{m['top1_agreement']:.2f}", f"{m['mean_cosine']:.4f}")
        lines.append(f"{name:<6} {m['top1']:>8.2f} {m['top5']:>8.2f} " + " ".join(f"{e:>8}" for e in extra))
    if report.get("checked"):
        verdict = "PASS" if report["passed"] else "FAIL"
        lines.append(f"{verdict}: {report['checked']} top-1 drop {report['models'][report['checked']]['top1_drop']:.2f} "
                     f"points (max {report['max_drop']:.2f}) on {report['n']} images")
    return "\n".join(lines)
