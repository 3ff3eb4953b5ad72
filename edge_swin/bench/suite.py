"""Run backends over batch sizes: latency stats, throughput, peak memory, model size; one JSON-able dict."""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from tqdm import tqdm

from edge_swin.bench.backends import ModelSpec, NotAvailable, Runner, make_runner
from edge_swin.bench.env import header
from edge_swin.bench.memory import CudaPeak, PeakRSS, release_freed
from edge_swin.bench.timing import summarize, time_call, timed_runs


def _inputs(batch: int, img_size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, img_size, img_size, generator=torch.Generator().manual_seed(seed))


def _time_batches(runner: Runner, inputs: dict, warmup: int, runs: int, max_seconds: float | None, progress,
                  rss_base: int | None, times: dict, memory: dict | None) -> None:
    """One round over the batch sizes: timed runs appended to times[batch]; peak memory into `memory` if given."""
    for batch, x in inputs.items():
        meter = (CudaPeak() if runner.cuda_timing else PeakRSS(base=rss_base)) if memory is not None else nullcontext()
        with meter:
            times.setdefault(batch, []).extend(
                timed_runs(lambda: runner.run(x), warmup=warmup, runs=runs, cuda=runner.cuda_timing,
                           max_seconds=max_seconds, progress=progress))
        if memory is not None:
            memory[batch] = meter.peak_delta_bytes


def run_suite(spec: ModelSpec, backends, batches, device: str = "cpu", threads: int | None = None,
              warmup: int = 5, runs: int = 50, max_seconds: float | None = 30.0, rounds: int = 1) -> dict:
    """{'header', 'model', 'settings', 'backends': {name: {'status': 'ok' | 'not available: ...', ...}}}.

    rounds > 1: every backend and batch is timed in `rounds` turns of runs/rounds calls, backends alternating,
    and the stats pool all turns. On a shared machine this spreads load swings over all backends alike, so
    their comparison holds even when the absolute numbers move. Round 1 sets each backend up and measures its
    memory (peak RSS growth over the RSS just before its set-up; CUDA allocator peak on a GPU).
    """
    if threads:
        torch.set_num_threads(threads)
    per_round = max(1, -(-runs // rounds))
    result = {"header": header(threads), "model": {"name": spec.name, "img_size": spec.img_size,
                                                 "onnx_fp32": str(spec.onnx_fp32) if spec.onnx_fp32 else None,
                                                 "onnx_int8": str(spec.onnx_int8) if spec.onnx_int8 else None,
                                                 "engine": str(spec.engine) if spec.engine else None},
              "settings": {"batches": list(batches), "device": device, "threads": threads, "warmup": warmup,
                           "runs": per_round * rounds, "rounds": rounds, "max_seconds_per_batch": max_seconds,
                           "timer": "CUDA events" if device == "cuda" else "time.perf_counter per call"},
              "backends": {}}
    bar = tqdm(total=len(backends) * len(batches) * per_round * rounds, desc="latency", unit="run")
    live = {}  # name -> (runner, inputs, times, memory)
    for r in range(rounds):
        for name in backends:
            bar.set_postfix_str(f"{name} round {r + 1}/{rounds}")
            if r == 0:
                release_freed()
                try:
                    with PeakRSS() as setup_mem:
                        runner = make_runner(name, spec, device=device, threads=threads)
                except NotAvailable as e:
                    result["backends"][name] = {"status": f"not available: {e}"}
                    bar.update(len(batches) * per_round * rounds)
                    continue
                result["backends"][name] = {"status": "ok", "device": runner.device, "precision": runner.precision,
                                            "model_bytes": runner.model_bytes,
                                            "setup_rss_growth_bytes": setup_mem.peak_delta_bytes}
                try:
                    inputs = {b: runner.prepare(_inputs(b, spec.img_size)) for b in batches}
                except Exception as e:  # e.g. torch.compile failing on this machine: the other backends still run
                    result["backends"][name] = {"status": f"not available: failed to prepare ({type(e).__name__}: "
                                                          f"{str(e)[:300]})"}
                    bar.update(len(batches) * per_round * rounds)
                    continue
                if getattr(runner, "compile_seconds", None):  # compiled backends: compile time apart from latency
                    result["backends"][name]["compile_seconds"] = {str(b): round(s, 2)
                                                                   for b, s in runner.compile_seconds.items()}
                live[name] = (runner, inputs, {}, {}, setup_mem.base)
            if name not in live:
                continue
            runner, inputs, times, memory, base = live[name]
            try:
                _time_batches(runner, inputs, warmup if r == 0 else 1, per_round,
                              None if max_seconds is None else max_seconds / rounds, bar, base, times,
                              memory if r == 0 else None)
            except Exception as e:  # a backend that sets up but fails to run (e.g. inductor without a compiler)
                result["backends"][name] = {"status": f"not available: failed to run ({type(e).__name__}: {str(e)[:300]})"}
                del live[name]
    bar.close()
    for name, (runner, inputs, times, memory, base) in live.items():
        rows = {}
        for batch in batches:
            row = summarize(times[batch], batch).to_dict()
            row["peak_memory_bytes"] = memory.get(batch)
            row["peak_memory_kind"] = ("cuda max_memory_allocated growth" if runner.cuda_timing
                                       else "peak RSS growth over the RSS before set-up (sampled every 5 ms)")
            rows[str(batch)] = row
        result["backends"][name]["batches"] = rows
    live.clear()
    return result


def table(result: dict) -> str:
    """Markdown: one row per backend and batch (not-available backends with their reason)."""
    lines = ["| backend | batch | median ms | p90 ms | p99 ms | images/s | peak mem MB | model MB |",
             "|---|---|---|---|---|---|---|---|"]
    for name, entry in result["backends"].items():
        if entry["status"] != "ok":
            lines.append(f"| {name} | - | {entry['status']} | | | | | |")
            continue
        for batch, row in entry["batches"].items():
            mem = row["peak_memory_bytes"]
            lines.append(f"| {name} | {batch} | {row['median_ms']:.2f} | {row['p90_ms']:.2f} | {row['p99_ms']:.2f} | "
                         f"{row['images_per_s']:.0f} | {'' if mem is None else f'{mem / 2**20:.1f}'} | "
                         f"{entry['model_bytes'] / 2**20:.2f} |")
    return "\n".join(lines)


def interleaved_ratio(fn_a, fn_b, rounds: int = 5, runs: int = 10, warmup: int = 3) -> float:
    """Median over rounds of (median latency of a / median latency of b), a and b alternating round by round.

    Alternating keeps both under the same load, so a slower or busier machine moves both and the ratio stays.
    """
    for _ in range(warmup):
        fn_a(), fn_b()
    ratios = []
    for _ in range(rounds):
        a = time_call(fn_a, 1, warmup=0, runs=runs).median_ms
        b = time_call(fn_b, 1, warmup=0, runs=runs).median_ms
        ratios.append(a / b)
    return float(np.median(ratios))
