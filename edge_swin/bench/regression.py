"""Regression checks: measured numbers against a recorded baseline. Pure functions, so they are testable.

measured / baseline:
    {"accuracy": {backend: {"top1": %, "agreement": % same top-1 as FP32 PyTorch}},
     "latency_ratio": {"<backend>/<reference>@<batch>": median latency ratio measured in one run}}
tolerances (defaults in DEFAULT_TOLERANCES):
    top1_drop        points of top-1 a backend may lose against its baseline
    agreement_floor  lowest allowed top-1 agreement with FP32 (%), per backend or one number for all
    latency_ratio    relative growth allowed: fail when ratio > baseline * (1 + latency_ratio)
Getting faster or more accurate never fails; a baseline entry with no measurement fails (a backend vanished).
"""
from __future__ import annotations

DEFAULT_TOLERANCES = {"top1_drop": 1.0, "agreement_floor": 98.0, "latency_ratio": 0.5}


def _floor(tolerances: dict, backend: str) -> float:
    floor = tolerances["agreement_floor"]
    return floor.get(backend, floor.get("default", 0.0)) if isinstance(floor, dict) else floor


def compare(measured: dict, baseline: dict, tolerances: dict | None = None) -> list[str]:
    """Every way `measured` regresses against `baseline`, one sentence each; [] when none."""
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    failures = []
    got_acc = measured.get("accuracy", {})
    for backend, base in baseline.get("accuracy", {}).items():
        got = got_acc.get(backend)
        if got is None:
            failures.append(f"accuracy/{backend}: in the baseline but not measured")
            continue
        if got["top1"] < base["top1"] - tol["top1_drop"]:
            failures.append(f"accuracy/{backend}: top-1 {got['top1']:.2f}% < baseline {base['top1']:.2f}% "
                            f"- {tol['top1_drop']:g} points")
        floor = _floor(tol, backend)
        if "agreement" in got and got["agreement"] < floor:
            failures.append(f"accuracy/{backend}: top-1 agreement with FP32 {got['agreement']:.2f}% < floor {floor:g}%")
    got_lat = measured.get("latency_ratio", {})
    for key, base in baseline.get("latency_ratio", {}).items():
        got = got_lat.get(key)
        if got is None:
            failures.append(f"latency_ratio/{key}: in the baseline but not measured")
            continue
        limit = base * (1.0 + tol["latency_ratio"])
        if got > limit:
            failures.append(f"latency_ratio/{key}: {got:.3f} > baseline {base:.3f} x {1 + tol['latency_ratio']:g} "
                            f"= {limit:.3f}")
    return failures


def measure_accuracy(runners: dict, images, labels, reference: str = "pytorch_fp32", batch: int = 64) -> dict:
    """{'accuracy': {name: {'top1', 'agreement', 'n'}}}; agreement is with `reference`'s predictions."""
    from edge_swin.bench.accuracy import accuracy_numbers, runner_logits

    logits = {name: runner_logits(r, images, batch) for name, r in runners.items()}
    ref = logits.get(reference)
    return {"accuracy": {name: accuracy_numbers(l, labels, ref) for name, l in logits.items()}}


def ratio_key(backend: str, reference: str, batch: int) -> str:
    return f"{backend}/{reference}@{batch}"


def measure_latency_ratio(runner, reference_runner, batch: int, img_size: int, rounds: int = 5, runs: int = 10) -> float:
    """Median latency of `runner` over `reference_runner`'s at `batch`, interleaved round by round."""
    import torch

    from edge_swin.bench.suite import interleaved_ratio

    images = torch.randn(batch, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    xa, xb = runner.prepare(images), reference_runner.prepare(images)
    return interleaved_ratio(lambda: runner.run(xa), lambda: reference_runner.run(xb), rounds=rounds, runs=runs)
