"""The GPU suite's built-in sections (benchmarks/gpu_suite.py runs them; edge_swin/bench/gpu_suite.py is the frame).

gpu_tests   the `gpu` pytest tests of the plugin (harness numerics, AOT benchmark smoke) and the checked-build
            refusal test (the harness segfault seen on an H200), each pytest in a subprocess: a crash is a result
refusal     the H200 segfault's reproduction (segv.py) as a check: a stub table without this SM, built here with
            this machine's compiler, asked for a cubin in fresh processes (bare, after Triton, after torch + CUDA)
kernels     benchmarks/kernels.py --aot: the attention kernel vs SDPA, the FP16 node AOT vs JIT
nodes       FP16 and INT8 plugin nodes through the AOT cubins (the harness, i.e. the plugin's own launcher), per
            Swin-T stage and batch, W-MSA and SW-MSA; goals: INT8 <= 0.7x FP16 at batch 64 and <= 1.0x at batch 8
            (stages 1-3), FP16 stage 1 batch 64 <= 2x its memory floor at the bandwidth measured here
breakdown   per launch (qkv linear, attention, proj; the JIT kernels = the AOT sources, their output allocation
            timed and subtracted) next to cuBLAS FP16 GEMMs of the same shapes and the node's memory floor at
            the bandwidth measured here; goal: each linear launch <= 1.3x cuBLAS FP16 (stages 1-3, batch 64)

The node variants (which io an INT8 node takes) are read from the kernel manifest, not assumed. Every time is a
median of CUDA events after a warm-up (edge_swin.bench.timing.median_ms), the baselines timed in the same run.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.kernels import synthetic_node  # noqa: F401  (the nodes' and breakdown's inputs)
from edge_swin.bench.gpu_suite import NOT_AVAILABLE, Goal, SectionResult, SuiteContext, section
from edge_swin.bench.timing import median_ms

GOAL_STAGES = (1, 2, 3)
DTYPES = {"fp16": "float16", "fp32": "float32"}


def _env(extra: dict | None = None) -> dict:
    """A child's environment: the repository importable; no TRITON_INTERPRET (real kernels)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return {**env, **(extra or {})}


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:] if text else ""


def run_child(ctx: SuiteContext, args: list[str], env: dict | None = None, timeout_s: int | None = None) -> dict:
    """`python -X faulthandler <args>` in the repository root: a crash (segfault), a timeout or an error is
    recorded as the result ({"returncode", "crashed", "crash", "timed_out", "stdout", "output_tail"}), never raised."""
    timeout_s = timeout_s or ctx.timeout_s
    cmd = [sys.executable, "-X", "faulthandler", *args]
    try:
        proc = subprocess.run(cmd, cwd=ctx.root, env=_env(env), capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return {"command": " ".join(args), "returncode": None, "crashed": False, "crash": None,
                "timed_out": timeout_s, "stdout": out, "output_tail": _tail(out)}
    out = proc.stdout + proc.stderr
    fatal = [line for line in out.splitlines() if line.startswith("Fatal Python error")]
    crash = fatal[0] if fatal else f"killed by signal {-proc.returncode}" if proc.returncode < 0 else None
    return {"command": " ".join(args), "returncode": proc.returncode, "crashed": crash is not None, "crash": crash,
            "timed_out": None, "stdout": proc.stdout, "output_tail": _tail(out)}


def child_problem(run: dict) -> str | None:
    """None if the child exited 0, else one line: crashed / timed out / exit N with its last line."""
    if run["returncode"] == 0:
        return None
    if run["crashed"]:
        return f"crashed: {run['crash']}"
    if run["timed_out"]:
        return f"timed out after {run['timed_out']} s"
    last = [line for line in run["output_tail"].splitlines() if line.strip()]
    return f"exit {run['returncode']}: {last[-1][:300] if last else 'no output'}"


# ------------------------------------------------------------------------------------------------ gpu tests

def pytest_counts(output: str) -> dict:
    """{"passed": 14, "failed": 1, ...} from pytest's last summary line."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error|skipped)", line)]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected)",
                                                     lines[-1])} if lines else {}


def _pytest(ctx: SuiteContext, args: list[str]) -> dict:
    run = run_child(ctx, ["-m", "pytest", "-q", "-p", "no:cacheprovider", *args])
    run["counts"] = pytest_counts(run.pop("stdout"))
    return run


@section("gpu_tests", "the plugin's `gpu` pytest tests and the checked-build refusal test")
def gpu_tests(ctx: SuiteContext) -> SectionResult:
    try:
        import pytest  # noqa: F401
    except ImportError:
        return SectionResult(status=f"{NOT_AVAILABLE}: pytest is not installed here")
    gpu_files = sorted(str(p.relative_to(ctx.root)) for p in (ctx.root / "tests").rglob("test_*.py")
                       if "mark.gpu" in p.read_text(errors="replace"))
    runs = {"gpu": _pytest(ctx, ["-m", "gpu", *gpu_files]),
            "checked_build": _pytest(ctx, ["tests/plugins/test_harness_checked_build.py"])}
    ok = all(r["returncode"] == 0 for r in runs.values())
    goals = [Goal(f"pytest {name}: no failure or crash", 0.0 if r["returncode"] == 0 else 1.0, 0.0, unit="x",
                  note=r["crash"] if r["crashed"] else "timed out" if r.get("timed_out") else
                  ", ".join(f"{n} {w}" for w, n in r["counts"].items()))
             for name, r in runs.items()]
    table = ["| run | exit | result |", "|---|---|---|"]
    table += [f"| {name} | {r['returncode']} | {'CRASHED (' + r['crash'] + ') ' if r['crashed'] else ''}"
              f"{', '.join(f'{n} {w}' for w, n in r['counts'].items()) or 'no summary'} |" for name, r in runs.items()]
    status = "ok" if ok else "failed: " + "; ".join(
        f"{n} exit {r['returncode']}{' (crash)' if r['crashed'] else ''}" for n, r in runs.items() if r["returncode"])
    return SectionResult(status=status, data={"files": gpu_files, "runs": runs}, goals=goals,
                         markdown="\n".join(table))


# ------------------------------------------------------------------------------------------------ refusal

# kernel_sm of a harness whose table lacks this GPU's SM, in a fresh process after `prelude`.
REFUSAL_PROBE = """
import json, sys
{prelude}
from edge_swin.plugins.swin_window_attention.testing import harness as hn
h = hn.load_harness(sys.argv[1])
print(json.dumps({{sm: h.kernel_sm(False, (7, 7), True, sm) for sm in map(int, sys.argv[2].split(","))}}), flush=True)
"""
REFUSAL_PRELUDES = {
    "bare": "",
    "triton imported": "import triton",
    "torch on the GPU": "import torch\nif torch.cuda.is_available():\n    torch.zeros(1, device='cuda')",
}


def refusal_runs(ctx: SuiteContext, harness: Path, sms: list[int]) -> dict:
    """{condition: {"returncode", "crashed", "answers" | "output_tail"}} for each prelude."""
    runs = {}
    for name, prelude in REFUSAL_PRELUDES.items():
        run = run_child(ctx, ["-c", REFUSAL_PROBE.format(prelude=prelude), str(harness), ",".join(map(str, sms))])
        stdout = run.pop("stdout")
        if run["returncode"] == 0:
            run["answers"] = json.loads(stdout.splitlines()[-1])
        runs[name] = run
    return runs


@section("refusal", "the harness refusal path (the H200 segfault): a stub table without this SM, built here")
def refusal(ctx: SuiteContext) -> SectionResult:
    """segv.py of the H200 measurements as a check: the stub table built on this machine with its own compiler
    (a Release build, as the GPU test builds it), asked for this GPU's SM in fresh processes."""
    import torch

    from edge_swin.plugins.swin_window_attention.testing import harness as hn
    from edge_swin.plugins.swin_window_attention import library
    from tests.plugins.stub_kernels import write_stub_table

    major, minor = torch.cuda.get_device_capability() if torch.cuda.is_available() else (9, 0)
    device_sm = major * 10 + minor
    folder = ctx.out_dir / "refusal"
    table = write_stub_table(folder / "table.cpp", sms=(75,) if major != 7 else (80,))
    headers = library.default_header_dir()
    if headers is None:
        return SectionResult(status=f"{NOT_AVAILABLE}: no TensorRT headers to build the harness "
                                    "(EDGE_SWIN_TRT_HEADERS)")
    try:
        path = hn.build_harness(table, folder / "lib", header_dir=headers)
    except library.PluginLibraryError as e:
        return SectionResult(status=f"{NOT_AVAILABLE}: the harness does not build here: {str(e)[:300]}")
    sms = sorted({75, 80, 86, 89, 90, 100, device_sm})
    runs = refusal_runs(ctx, path, sms)
    crashed = [name for name, r in runs.items() if r["returncode"] != 0]
    goal = Goal("harness refusal path: no crash (stub table built here)", float(len(crashed)), 0.0,
                note=", ".join(f"crashed: {n}" for n in crashed))
    table_md = ["| process | exit | sm_%d answer |" % device_sm, "|---|---|---|"]
    for name, r in runs.items():
        answer = r.get("answers", {}).get(str(device_sm))
        cell = answer[0] if answer else "CRASHED" if r["crashed"] else "-"
        table_md.append(f"| {name} | {r['returncode']} | {cell} |")
    status = "ok" if not crashed else f"failed: crashed after {', '.join(crashed)}"
    return SectionResult(status=status, data={"harness": str(path), "device_sm": device_sm, "runs": runs},
                         goals=[goal], markdown="\n".join(table_md))


# ------------------------------------------------------------------------------------------------ kernels.py

@section("kernels", "benchmarks/kernels.py --aot: attention vs SDPA, FP16 node AOT vs JIT")
def kernels(ctx: SuiteContext) -> SectionResult:
    out = ctx.out_dir / "kernels.json"
    run = run_child(ctx, [str(ctx.root / "benchmarks" / "kernels.py"), "--aot", "--harness", str(ctx.harness),
                          "--batch", ",".join(map(str, ctx.batches)), "--stages", ",".join(map(str, ctx.stages)),
                          "--warmup", str(ctx.warmup), "--runs", str(ctx.runs), "--out", str(out)])
    if not out.is_file():
        return SectionResult(status=f"failed: kernels.py {child_problem(run)}",
                             data={"output_tail": run["output_tail"]})
    rows = json.loads(out.read_text())["rows"]
    table = ["| stage | batch | kind | fused attention ms | best SDPA ms | x SDPA | AOT node ms | JIT node ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best = r["sdpa_ms"].get(r["sdpa_best"]) if r.get("sdpa_best") else None
        table.append(f"| {r['stage']} | {r['batch']} | {'SW' if r['shifted'] else 'W'}-MSA | {r['fused_ms']:.3f} | "
                     f"{best if best is None else f'{best:.3f}'} | {r.get('speedup_vs_best_sdpa') or 0:.2f} | "
                     f"{r.get('aot_node_ms', float('nan')):.3f} | {r.get('jit_node_ms', float('nan')):.3f} |")
    # exit != 0 after the JSON (e.g. no matplotlib for the PNG) still leaves the numbers
    status = "ok" if run["returncode"] == 0 else f"ok (kernels.py {child_problem(run)} after writing its JSON)"
    return SectionResult(status=status, data={"json": str(out), "rows": len(rows)}, markdown="\n".join(table))


# ------------------------------------------------------------------------------------------------ nodes

def manifest_io(kernels_dir: Path) -> dict[str, str]:
    """{"fp16": io, "int8": io}: the io of each mode's node as the kernel manifest compiled it. An INT8 node needs
    its attention and its qkv_linear (swin_qkv_int8) kernel in that io; where several io are built, fp16 is taken
    (the FP16+INT8 engine's node, harness int8Mode 2), else the first found."""
    data = json.loads((kernels_dir / "manifest.json").read_text())
    found: dict[str, list[str]] = {}
    qkv_int8 = {e["io"] for e in data["kernels"] if e.get("family") == "qkv_linear" and e.get("mode") == "int8"}
    for entry in data["kernels"]:
        if entry.get("family") == "window_attention":
            if entry["mode"] == "int8" and qkv_int8 and entry["io"] not in qkv_int8:
                continue
            found.setdefault(entry["mode"], [])
            if entry["io"] not in found[entry["mode"]]:
                found[entry["mode"]].append(entry["io"])
    return {mode: "fp16" if "fp16" in ios else ios[0] for mode, ios in found.items() if ios}


def _time_node(harness, stage, batch, shifted, int8, io, warmup, runs) -> dict:
    import torch

    from edge_swin.plugins.swin_window_attention.testing.harness import NodeLaunch

    tensors, attrs = synthetic_node(stage, batch, shifted, int8, getattr(torch, DTYPES[io]), torch.device("cuda"))
    launch = NodeLaunch(tensors, attrs, harness)
    y = launch()
    torch.cuda.synchronize()
    finite = bool(torch.isfinite(y).all())
    return {"ms": median_ms(launch, warmup, runs), "cubin_sm": launch.cubin_sm, "io": io, "output_finite": finite}


@section("nodes", "FP16 and INT8 plugin nodes through the AOT cubins, per Swin-T stage and batch")
def nodes(ctx: SuiteContext) -> SectionResult:
    from edge_swin.plugins.swin_window_attention.testing.harness import load_harness

    harness = load_harness(ctx.harness)
    ios = manifest_io(ctx.kernels_dir)
    missing = [m for m in ("fp16", "int8") if m not in ios]
    rows, problems = [], []
    for stage in ctx.stages:
        for batch in ctx.batches:
            for shifted in (False, True):
                row = {"stage": stage, "batch": batch, "shifted": shifted}
                for mode in ("fp16", "int8"):
                    if mode in missing:
                        row[mode] = f"{NOT_AVAILABLE}: no {mode} attention variant in {ctx.kernels_dir}/manifest.json"
                        continue
                    try:
                        row[mode] = _time_node(harness, stage, batch, shifted, mode == "int8", ios[mode], ctx.warmup,
                                               ctx.runs)
                    except Exception as e:  # noqa: BLE001 - one variant's failure is its row's result
                        row[mode] = f"failed: {type(e).__name__}: {str(e)[:300]}"
                        problems.append(f"{mode} stage {stage} b{batch}: {row[mode]}")
                fp16, int8 = row.get("fp16"), row.get("int8")
                if isinstance(fp16, dict) and isinstance(int8, dict):
                    row["int8_over_fp16"] = int8["ms"] / fp16["ms"]
                rows.append(row)
    hw, C = 56, 96  # Swin-T stage 1
    floor = memory_floor_ms(64 * hw * hw, C, NODE_BYTES["fp16"], measured_bandwidth())
    goals = node_goals(rows, floor)
    table = ["| stage | batch | kind | FP16 node ms | INT8 node ms (io) | INT8 / FP16 |", "|---|---|---|---|---|---|"]
    for r in rows:
        cell = {m: f"{r[m]['ms']:.3f}" + (f" ({r[m]['io']})" if m == "int8" else "") if isinstance(r[m], dict)
                else r[m][:60] for m in ("fp16", "int8")}
        ratio = f"{r['int8_over_fp16']:.2f}" if "int8_over_fp16" in r else "-"
        table.append(f"| {r['stage']} | {r['batch']} | {'SW' if r['shifted'] else 'W'}-MSA | {cell['fp16']} | "
                     f"{cell['int8']} | {ratio} |")
    status = "ok" if not problems else f"failed: {len(problems)} node(s): {problems[0]}"
    return SectionResult(status=status, data={"io": ios, "rows": rows}, goals=goals, markdown="\n".join(table))


def node_goals(rows: list[dict], fp16_floor_ms: float) -> list[Goal]:
    """The node goals from the nodes rows (the worse of W-MSA and SW-MSA counts); the FP16 node at stage 1,
    batch 64 against twice its memory floor at the bandwidth measured on this GPU."""
    goals = []
    for stage in GOAL_STAGES:
        for batch, limit in ((64, 0.7), (8, 1.0)):
            ratios = [r["int8_over_fp16"] for r in rows if r["stage"] == stage and r["batch"] == batch
                      and "int8_over_fp16" in r]
            goals.append(Goal(f"INT8 / FP16 node time, stage {stage}, batch {batch}", max(ratios) if ratios else None,
                              limit))
    fp16 = [r["fp16"]["ms"] for r in rows if r["stage"] == 1 and r["batch"] == 64 and isinstance(r.get("fp16"), dict)]
    goals.append(Goal("FP16 node, stage 1, batch 64", max(fp16) if fp16 else None, round(2 * fp16_floor_ms, 4),
                      unit="ms", note=f"2x its memory floor, {fp16_floor_ms:.3f} ms at the bandwidth measured here"))
    return goals


# ------------------------------------------------------------------------------------------------ breakdown

def memory_floor_ms(tokens: int, channels: int, bytes_per_token_channel: int, bandwidth_bytes_s: float) -> float:
    """The node's DRAM traffic at `bandwidth`: FP16 node 20 bytes per token and channel (x read 2, qkv written and
    read 6 + 6, out written and read 2 + 2, y written 2); INT8 node with fp16 io and int8 workspaces 12 (2 + 3 + 3
    + 1 + 1 + 2). Weights are negligible at these shapes."""
    return tokens * channels * bytes_per_token_channel / bandwidth_bytes_s * 1e3


NODE_BYTES = {"fp16": 20, "int8_fp16io_int8_workspace": 12}


def measured_bandwidth(nbytes: int = 1 << 30) -> float:
    """Bytes/s of a device-to-device copy (read + write counted), the best of 20: what a memory-bound kernel gets."""
    import torch

    src = torch.empty(nbytes // 2, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    best_ms = median_ms(lambda: dst.copy_(src), warmup=3, runs=20, reduce=min)
    del src, dst
    return nbytes / (best_ms / 1e3)


def _bench(fn) -> float:
    return median_ms(fn, warmup=10, runs=50)


def _launch_times(stage: int, batch: int, mode: str, io: str, device: str = "cuda", bench=None) -> dict:
    """Per-launch ms of one SW-MSA node through the node's own launch sequence (launch.run_node, the one the
    runtime ops and the plugin make; its launch_hook times each launch), each launch's output allocation timed
    and subtracted. (device, bench: a CPU test drives it through Triton's interpreter with a stand-in timer.)"""
    import torch

    from edge_swin.plugins.swin_window_attention.launch import run_node

    bench = bench or _bench
    tensors, a = synthetic_node(stage, batch, True, mode == "int8", getattr(torch, DTYPES[io]), torch.device(device))
    times = {}

    def timed(name, launch):
        out = launch()
        alloc = bench(lambda: torch.full(out.shape, 0, dtype=out.dtype, device=out.device))
        times[f"{name}_ms"] = bench(launch) - alloc
        return out

    run_node(*tensors, shift=a["shift_size"], scale=a["scale"], scales=a["int8_scales"], mode=mode, launch_hook=timed)
    return times


@section("breakdown", "per launch (qkv linear, attention, proj) vs cuBLAS FP16 and the memory floor")
def breakdown(ctx: SuiteContext) -> SectionResult:
    import torch

    from benchmarks.kernels import SWIN_T_STAGES

    ios = manifest_io(ctx.kernels_dir)
    bandwidth = measured_bandwidth()
    rows, goals = [], []
    for stage in ctx.stages:
        for batch in ctx.batches:
            hw, C = SWIN_T_STAGES[stage]
            M = batch * hw * hw
            row = {"stage": stage, "batch": batch, "tokens": M, "channels": C}
            a = torch.randn(M, C, device="cuda", dtype=torch.float16)
            for name, n_out in (("qkv", 3 * C), ("proj", C)):
                w = torch.randn(n_out, C, device="cuda", dtype=torch.float16)
                row[f"cublas_fp16_{name}_ms"] = _bench(lambda w=w: a @ w.t())
            del a
            for mode in ("fp16", "int8"):
                try:
                    row[mode] = _launch_times(stage, batch, mode, ios.get(mode, "fp16"))
                except Exception as e:  # noqa: BLE001 - e.g. a kernel API in flux: that mode's cells say why
                    row[mode] = f"{NOT_AVAILABLE}: {type(e).__name__}: {str(e)[:300]}"
            row["floor_ms"] = {k: memory_floor_ms(M, C, b, bandwidth) for k, b in NODE_BYTES.items()}
            rows.append(row)
            if stage in GOAL_STAGES and batch == max(ctx.batches):
                for mode in ("fp16", "int8"):
                    for name in ("qkv", "proj"):
                        t = row[mode].get(f"{name}_linear_ms") if isinstance(row[mode], dict) else None
                        goals.append(Goal(f"{mode.upper()} {name} linear / cuBLAS FP16, stage {stage}, batch {batch}",
                                          None if t is None else t / row[f"cublas_fp16_{name}_ms"], 1.3))
    table = ["| stage | batch | mode | qkv linear ms | attention ms | proj ms | cuBLAS FP16 qkv / proj ms | "
             "node floor ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for mode in ("fp16", "int8"):
            t = r[mode]
            floor = r["floor_ms"]["fp16" if mode == "fp16" else "int8_fp16io_int8_workspace"]
            cells = (f"{t['qkv_linear_ms']:.3f} | {t['attention_ms']:.3f} | {t['proj_linear_ms']:.3f}"
                     if isinstance(t, dict) else f"{t[:80]} | | ")
            table.append(f"| {r['stage']} | {r['batch']} | {mode} | {cells} | {r['cublas_fp16_qkv_ms']:.3f} / "
                         f"{r['cublas_fp16_proj_ms']:.3f} | {floor:.3f} |")
    note = (f"\nMemory floor at {bandwidth / 1e12:.2f} TB/s (a device-to-device copy here): FP16 node 20 B per token "
            "and channel, INT8 node with fp16 io and int8 workspaces 12 B.")
    return SectionResult(data={"bandwidth_bytes_per_s": bandwidth, "io": ios, "rows": rows}, goals=goals,
                         markdown="\n".join(table) + "\n" + note)
