"""Everything issue 13 measures on a GPU, in one command, into one JSON + markdown summary.

On a CPU machine (Triton compiles without a GPU), build the kernel table and the harness for the GPU's SM:

    python -m edge_swin.plugins.swin_window_attention.aot.build --arch 90          # build/plugins/embedded_kernels.cpp + manifest.json
    python -m edge_swin.plugins.swin_window_attention.testing.harness                  # build/plugins/libedge_swin_node_harness.so

copy the repository (with build/plugins/) to the GPU machine, which needs only PyTorch and Triton (pytest for
the test section; g++ and cmake for the tests that build a harness there), then:

    python benchmarks/gpu_suite.py                       # every section, ~3-4 minutes on an H100/H200
    python benchmarks/gpu_suite.py --sections nodes breakdown --runs 30

Sections (benchmarks/gpu_sections.py): gpu_tests, refusal, kernels, nodes, breakdown; each goal of issue 13 is printed
as pass/FAIL. Results: benchmarks/results/gpu/<device>/summary.json and summary.md (+ kernels.json).
Without a CUDA GPU it prints "not available: no CUDA GPU" and exits 0, writing nothing.
Exit status: 0 when no section failed (goals may fail, a section may be "not available": see the summary;
--strict makes a failed goal exit 2), 1 when a section failed or the prebuilt kernels/harness are missing.

Another benchmark joins the suite as a module of @section functions (edge_swin/bench/gpu_suite.py) listed in
SECTION_MODULES below.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.bench import gpu_suite as frame  # noqa: E402

# Modules whose @section functions make up the suite, in this order.
SECTION_MODULES = ["benchmarks.gpu_sections"]
RESULTS = ROOT / "benchmarks" / "results" / "gpu"
DEFAULT_KERNELS = ROOT / "build" / "plugins"


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers such as 8,64") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive integers")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_suite.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", nargs="*", default=None, help="run only these sections (default: all)")
    p.add_argument("--kernels", type=Path, default=DEFAULT_KERNELS,
                   help="folder of the prebuilt kernel table, manifest.json (default: %(default)s)")
    p.add_argument("--harness", type=Path, default=None,
                   help="prebuilt harness library (default: $EDGE_SWIN_NODE_HARNESS or <kernels>/"
                        "libedge_swin_node_harness.so)")
    p.add_argument("--batch", type=_ints, default=(8, 64), help="batches (default: 8,64)")
    p.add_argument("--stages", type=_ints, default=(1, 2, 3, 4), help="Swin-T stages (default: 1,2,3,4)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--timeout", type=int, default=240, help="seconds per subprocess (pytest, kernels.py)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/results/gpu/<device>)")
    p.add_argument("--strict", action="store_true", help="exit 2 when a goal fails")
    args = p.parse_args(argv)
    bad = [s for s in args.stages if s not in (1, 2, 3, 4)]
    if bad:
        p.error(f"--stages {bad}: Swin-T has stages 1-4")
    return args


def prebuilt_problem(kernels: Path, harness: Path) -> str | None:
    """What is missing of the kernel table and harness built ahead of time, with the commands that make them."""
    missing = [str(p) for p in (kernels / "manifest.json", harness) if not p.is_file()]
    if not missing:
        return None
    return (f"missing {', '.join(missing)}: build them on any machine (no GPU needed) with "
            "`python -m edge_swin.plugins.swin_window_attention.aot.build --arch <this GPU's SM, e.g. 90>` and `python -m "
            "edge_swin.plugins.swin_window_attention.testing.harness`, then pass --kernels/--harness or copy build/plugins/ here")


def main(argv=None) -> int:
    args = parse_args(argv)
    why = frame.cuda_unavailable()
    if why:
        print(why)
        return 0
    import os

    import torch
    import triton

    from edge_swin.bench.env import device_id, header

    failed_imports = frame.load_sections(SECTION_MODULES)
    names = args.sections or list(frame.SECTIONS)
    unknown = [n for n in names if n not in frame.SECTIONS]
    if unknown:
        print(f"error: unknown section(s) {unknown}; known: {', '.join(frame.SECTIONS)}"
              + (f" (not imported: {failed_imports})" if failed_imports else ""), file=sys.stderr)
        return 1
    harness = args.harness or Path(os.environ.get("EDGE_SWIN_NODE_HARNESS") or args.kernels
                                   / "libedge_swin_node_harness.so")
    problem = prebuilt_problem(args.kernels, harness)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    out = args.out or RESULTS / device_id(True)
    out.mkdir(parents=True, exist_ok=True)
    ctx = frame.SuiteContext(root=ROOT, out_dir=out, harness=harness.resolve(), kernels_dir=args.kernels.resolve(),
                             batches=args.batch, stages=args.stages, warmup=args.warmup, runs=args.runs,
                             timeout_s=args.timeout)
    results = frame.run_sections(ctx, names)
    head = {**header(), "triton": triton.__version__, "torch_cuda": torch.version.cuda,
            "kernels": str(ctx.kernels_dir), "harness": str(ctx.harness), "settings": {
                "batches": list(args.batch), "stages": list(args.stages), "warmup": args.warmup, "runs": args.runs}}
    json_path, md_path = frame.write_summary(out, results, head, failed_imports)
    goals = [g for r in results.values() for g in r.goals]
    for g in goals:
        verdict = {True: "pass", False: "FAIL", None: "not measured"}[g.passed]
        print(f"[gpu_suite] {verdict:>12}  {g.name}: {frame.format_value(g.measured, g.unit)} "
              f"(limit {frame.format_value(g.limit, g.unit)})")
    print(f"[gpu_suite] {json_path}\n[gpu_suite] {md_path}")
    if any(r.status.startswith("failed") for r in results.values()):
        return 1
    return 2 if args.strict and any(g.passed is False for g in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
