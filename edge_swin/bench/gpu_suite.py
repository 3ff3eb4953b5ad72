"""The GPU suite's frame: named sections, goals checked as pass/fail, one JSON + markdown summary.

benchmarks/gpu_suite.py is the command; this module holds what needs no GPU (and is tested on a CPU), the goals
plot included:

    @section("nodes", "FP16 and INT8 plugin nodes through the AOT cubins")
    def nodes(ctx: SuiteContext) -> SectionResult: ...
        return SectionResult(data={...}, goals=[Goal("INT8/FP16 node time, stage 1 b64", 0.62, 0.7, "x")])

A section is one function registered with @section in a module the command imports (benchmarks/gpu_suite.py's
SECTION_MODULES; the built-in sections are benchmarks/gpu_sections.py); another part of the project adds its
benchmark as one more module there (e.g. the whole-model GPU runtime). A module that does not import is listed
in the summary with the reason, never a crash of the suite. Each section runs once, timed; an exception in it
is recorded as its failure and the suite goes on with the next one.
"""
from __future__ import annotations

import datetime
import importlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from edge_swin.utils.io import write_json, write_text

NOT_AVAILABLE = "not available"


@dataclass
class Goal:
    """One promise of the project checked against a measurement: measured <= limit passes (>= with at_least)."""
    name: str
    measured: float | None  # None: not measured (the section could not take it)
    limit: float
    unit: str = "x"  # "x" (a ratio), "ms" or "points" (percentage points of top-1)
    note: str = ""
    at_least: bool = False  # the goal is a floor (a speed-up), not a ceiling

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


@dataclass
class SectionResult:
    status: str = "ok"  # "ok", "failed: <why>", "not available: <why>"
    data: dict = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    markdown: str = ""  # the section's own table(s) for the summary
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"status": self.status, "seconds": round(self.seconds, 1), "data": self.data,
                "goals": [g.to_dict() for g in self.goals]}


@dataclass
class SuiteContext:
    """What every section may use: where the repository, the prebuilt kernels and harness are, what to measure."""
    root: Path
    out_dir: Path
    harness: Path
    kernels_dir: Path
    batches: tuple[int, ...] = (8, 64)
    stages: tuple[int, ...] = (1, 2, 3, 4)
    warmup: int = 10
    runs: int = 50
    log: Callable[[str], None] = print
    timeout_s: int = 240  # per subprocess (pytest, kernels.py, the whole model, top-1, training)
    model_batches: tuple[int, ...] = (1, 8, 64)  # whole-model latency
    train_steps: int = 20  # timed optimiser steps per precision (training throughput)
    kit: Path | None = None  # the prepared folder (benchmarks/gpu_kit.py): run checkpoints, test images, prebuilt


@dataclass(frozen=True)
class Section:
    name: str
    description: str
    run: Callable[[SuiteContext], SectionResult]


SECTIONS: dict[str, Section] = {}


def section(name: str, description: str):
    """Register `fn(ctx) -> SectionResult` as the suite section `name` (names are unique)."""
    def register(fn):
        if name in SECTIONS and SECTIONS[name].run is not fn:
            raise ValueError(f"two GPU suite sections are called {name!r}")
        SECTIONS[name] = Section(name, description, fn)
        return fn
    return register


def load_sections(modules) -> dict[str, str]:
    """Import the section modules; {module: why it did not import} for those that failed."""
    failed = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - a missing optional package must not stop the other sections
            failed[module] = f"{type(e).__name__}: {e}"
    return failed


def cuda_unavailable() -> str | None:
    """None where PyTorch sees a CUDA GPU, else the one line the suite prints."""
    try:
        import torch
    except ImportError:
        return f"{NOT_AVAILABLE}: no CUDA GPU (PyTorch is not installed)"
    if not torch.cuda.is_available():
        return f"{NOT_AVAILABLE}: no CUDA GPU"
    return None


def run_sections(ctx: SuiteContext, names: list[str],
                 after_each: Callable[[dict[str, SectionResult]], None] | None = None) -> dict[str, SectionResult]:
    """Each section in order, timed; `after_each(results so far)` after every one (the command rewrites its
    summary there, so a run stopped from outside still leaves the sections it finished)."""
    results = {}
    for name in names:
        sec = SECTIONS[name]
        ctx.log(f"[gpu_suite] {name}: {sec.description}")
        start = time.perf_counter()
        try:
            result = sec.run(ctx)
        except Exception as e:  # noqa: BLE001 - one broken section must not hide the others' numbers
            result = SectionResult(status=f"failed: {type(e).__name__}: {e}",
                                   data={"traceback": traceback.format_exc()[-4000:]})
        result.seconds = time.perf_counter() - start
        ctx.log(f"[gpu_suite] {name}: {result.status} ({result.seconds:.0f} s)")
        results[name] = result
        if after_each is not None:
            after_each(results)
    return results


def summary(results: dict[str, SectionResult], header: dict, import_failures: dict[str, str] | None = None) -> dict:
    goals = [g for r in results.values() for g in r.goals]
    return {
        "header": header,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sections": {name: r.to_dict() for name, r in results.items()},
        "section_modules_not_imported": import_failures or {},
        "goals": {"passed": sum(g.passed is True for g in goals), "failed": sum(g.passed is False for g in goals),
                  "not_measured": sum(g.passed is None for g in goals)},
    }


def format_value(value, unit: str) -> str:
    if value is None:
        return "not measured"
    return {"ms": f"{value:.3f} ms", "points": f"{value:.2f} points"}.get(unit, f"{value:.2f}x")


def markdown(data: dict, results: dict[str, SectionResult]) -> str:
    h = data["header"]
    lines = [f"# GPU suite: {h.get('gpu') or h.get('device_id')}", "",
             f"{data['created']}; torch {h.get('versions', {}).get('torch')}, Triton {h.get('triton')}, "
             f"CUDA {h.get('cuda')}. Written by `python benchmarks/gpu_suite.py`.", "",
             "| section | status | seconds |", "|---|---|---|"]
    lines += [f"| {name} | {r.status.splitlines()[0][:200]} | {r.seconds:.0f} |" for name, r in results.items()]
    for module, why in data.get("section_modules_not_imported", {}).items():
        lines.append(f"| {module} | {NOT_AVAILABLE}: {why[:200]} | 0 |")
    goals = [g for r in results.values() for g in r.goals]
    if goals:
        g = data["goals"]
        lines += ["", f"## Goals: {g['passed']} passed, {g['failed']} failed, {g['not_measured']} not measured", "",
                  "| goal | measured | limit | result |", "|---|---|---|---|"]
        for goal in goals:
            verdict = {True: "pass", False: "FAIL", None: "not measured"}[goal.passed]
            lines.append(f"| {goal.name} | {format_value(goal.measured, goal.unit)} | "
                         f"{'>= ' if goal.at_least else ''}{format_value(goal.limit, goal.unit)} | "
                         f"{verdict}{' (' + goal.note + ')' if goal.note else ''} |")
    for name, r in results.items():
        if r.markdown:
            lines += ["", f"## {name}", "", r.markdown.rstrip()]
    return "\n".join(lines) + "\n"


def write_summary(out_dir: Path, results: dict[str, SectionResult], header: dict,
                  import_failures: dict[str, str] | None = None) -> tuple[Path, Path]:
    """summary.json and summary.md under out_dir (each written atomically)."""
    data = summary(results, header, import_failures)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "summary.json", out_dir / "summary.md"
    write_json(json_path, json.loads(json.dumps(data, default=str)))
    write_text(md_path, markdown(data, results))
    return json_path, md_path


def plot_goals(data: dict, path: Path) -> Path:
    """goals.png from a summary: each goal's measured value over its limit (a bar per goal; left of the line at
    1 passes a ceiling, right of it passes a floor), not-measured goals listed. Needs matplotlib (ImportError)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    goals = [g for s in data["sections"].values() for g in s["goals"]]
    measured = [g for g in goals if g["measured"] is not None and g["limit"]]
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(len(measured), 3) + 1.6))
    colours = {True: "tab:green", False: "tab:red"}
    ax.barh(range(len(measured)), [g["measured"] / g["limit"] for g in measured],
            color=[colours[g["passed"]] for g in measured])
    ax.set_yticks(range(len(measured)), [("(floor) " if g.get("at_least") else "") + g["name"] for g in measured],
                  fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("measured / goal limit (green: pass, red: FAIL)")
    h = data["header"]
    ax.set_title(f"GPU suite on {h.get('gpu')}, {h.get('date')}: torch {h.get('versions', {}).get('torch')}, "
                 f"Triton {h.get('triton')}", fontsize=8)
    missing = [g["name"] for g in goals if g["measured"] is None]
    if missing:
        fig.text(0.01, 0.01, "not measured: " + "; ".join(missing)[:600], fontsize=6, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06 if missing else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
