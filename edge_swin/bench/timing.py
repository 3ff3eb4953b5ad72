"""The timing loop: warm-up, N timed runs, order statistics. CUDA events on a GPU, perf_counter on a CPU.

Every GPU number of the project (benchmarks/gpu_suite.py and what it runs, the whole-model benchmark, the latency
suite) comes from `timed_runs`; `median_ms` is its one-number form.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Stats:
    batch: int
    runs: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    images_per_s: float  # batch / median latency

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(times_ms, batch: int) -> Stats:
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timed runs")
    median = float(np.median(t))
    return Stats(batch=batch, runs=int(t.size), median_ms=median, p90_ms=float(np.percentile(t, 90)),
                 p99_ms=float(np.percentile(t, 99)), mean_ms=float(t.mean()), min_ms=float(t.min()),
                 images_per_s=batch * 1000.0 / median if median > 0 else float("inf"))


def time_call(fn: Callable[[], object], batch: int, warmup: int = 5, runs: int = 50, cuda: bool = False,
              min_seconds: float = 0.0, max_seconds: float | None = None, progress=None) -> Stats:
    """Stats of `timed_runs` (same arguments)."""
    return summarize(timed_runs(fn, warmup, runs, cuda, min_seconds, max_seconds, progress), batch)


def timed_runs(fn: Callable[[], object], warmup: int = 5, runs: int = 50, cuda: bool = False,
               min_seconds: float = 0.0, max_seconds: float | None = None, progress=None) -> list[float]:
    """Call `fn` `warmup` times untimed, then at least `runs` times (and `min_seconds`), each timed alone.

    cuda: time with CUDA events around each call (the GPU's own clock; no host-side sync noise inside).
    max_seconds: stop timing early (never before 3 runs) once this much wall time is spent, for slow backends.
    progress: an object with `update(n)` (a tqdm bar), advanced once per timed run.
    """
    for _ in range(warmup):
        fn()
    if cuda:
        import torch
        torch.cuda.synchronize()
    times: list[float] = []
    start = time.perf_counter()
    while True:
        if cuda:
            import torch
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000.0)
        if progress is not None:
            progress.update(1)
        spent = time.perf_counter() - start
        if len(times) >= runs and spent >= min_seconds:
            break
        if max_seconds is not None and spent >= max_seconds and len(times) >= 3:
            break
    return times


def median_ms(fn: Callable[[], object], warmup: int = 10, runs: int = 50, cuda: bool = True,
              reduce: Callable = np.median) -> float:
    """The one number GPU benchmarks report: the median (or `reduce`) of `runs` calls of `fn` timed alone with
    CUDA events, after `warmup` untimed calls. cuda=False times with perf_counter (CPU plumbing tests only)."""
    return float(reduce(timed_runs(fn, warmup=warmup, runs=runs, cuda=cuda)))
