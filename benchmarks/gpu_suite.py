"""Every GPU claim of the project, in one command, into one JSON + markdown summary and one plot.

On a CPU machine, prepare the folder the offline GPU machine needs (kernel table + harness for its SM, the run's
checkpoints, the test images, prebuilt INT8 models, wheels; docs/gpu-suite.md):

    python -m benchmarks.gpu_kit --sm 90 --run runs/<name>

carry the repository with gpu_kit/ to the GPU machine (PyTorch >= 2.11, Triton >= 3.6, pytest, g++, CMake), then:

    bash gpu_kit/run.sh                                  # every section: ~9-10 minutes on an H100 (estimate)
    bash gpu_kit/run.sh --quick                          # the goals at batch 64: ~4 minutes (estimate)
    python benchmarks/gpu_suite.py --kit gpu_kit --sections nodes breakdown --runs 30

Sections, in this order (benchmarks/gpu_sections.py, benchmarks/gpu_model_sections.py): nodes, breakdown, top1,
train, whole_model, kernels, gpu_tests, refusal; each goal is printed as pass/FAIL. Results:
<results-root>/<device>/summary.json, summary.md (rewritten after every section), goals.png (+ each section's
own JSON).
Without a CUDA GPU it prints "not available: no CUDA GPU" and exits 0, writing nothing.
Exit status: 0 when no section failed (goals may fail, a section may be "not available": see the summary;
--strict makes a failed goal exit 2), 1 when a section failed or the prebuilt kernels/harness are missing.

Another benchmark joins the suite as a module of @section functions (edge_swin/bench/gpu_suite.py) listed in
SECTION_MODULES below.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.bench import gpu_suite as frame  # noqa: E402

# Modules whose @section functions make up the suite.
SECTION_MODULES = ["benchmarks.gpu_sections", "benchmarks.gpu_model_sections"]
# The order they run in: the goals' measurements first, the slow whole model after the quick ones, the checks
# that only build and run tests last (the summary is rewritten after each section: a run stopped from outside
# keeps what it finished). Sections of another module run after these.
ORDER = ("nodes", "breakdown", "top1", "train", "whole_model", "kernels", "gpu_tests", "refusal")
RESULTS = ROOT / "benchmarks" / "results" / "gpu"
DEFAULT_KERNELS = ROOT / "build" / "plugins"
# --quick: the goals' sections at their batch-64 shapes, fewer runs (the whole model's batch-1 goal and the
# pytest/refusal/kernels checks are left out: torch.compile alone takes 20-35 s a shape)
QUICK = {"batch": (64,), "stages": (1, 2, 3), "runs": 20, "model_batch": (64,), "train_steps": 10,
         "sections": ("nodes", "breakdown", "top1", "train", "whole_model")}


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
    p.add_argument("--kit", type=Path, default=None,
                   help="the prepared folder (python -m benchmarks.gpu_kit): its kernels, harness, run checkpoints, "
                        "test images and prebuilt INT8 models")
    p.add_argument("--kernels", type=Path, default=None,
                   help="folder of the prebuilt kernel table, manifest.json (default: <kit>/kernels or build/plugins)")
    p.add_argument("--harness", type=Path, default=None,
                   help="prebuilt harness library (default: $EDGE_SWIN_NODE_HARNESS or <kernels>/"
                        "libedge_swin_node_harness.so)")
    p.add_argument("--quick", action="store_true", help=f"fewer shapes and runs: {QUICK}")
    p.add_argument("--batch", type=_ints, default=None, help="node batches (default: 8,64)")
    p.add_argument("--stages", type=_ints, default=None, help="Swin-T stages (default: 1,2,3,4)")
    p.add_argument("--model-batch", type=_ints, default=None, help="whole-model batches (default: 1,8,64)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=None, help="timed runs per measurement (default: 50)")
    p.add_argument("--timeout", type=int, default=240, help="seconds per child process (whole_model: at least 480)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: <results-root>/<device>)")
    p.add_argument("--results-root", type=Path, default=RESULTS, help="default: %(default)s")
    p.add_argument("--strict", action="store_true", help="exit 2 when a goal fails")
    p.add_argument("--plot", type=Path, default=None, metavar="SUMMARY_JSON",
                   help="only draw goals.png next to an existing summary.json (any machine with matplotlib)")
    args = p.parse_args(argv)
    quick = QUICK if args.quick else {}
    args.batch = args.batch or quick.get("batch", (8, 64))
    args.stages = args.stages or quick.get("stages", (1, 2, 3, 4))
    args.model_batch = args.model_batch or quick.get("model_batch", (1, 8, 64))
    args.runs = args.runs or quick.get("runs", 50)
    args.train_steps = quick.get("train_steps", 20)
    args.sections = args.sections or list(quick.get("sections", ()))
    bad = [s for s in args.stages if s not in (1, 2, 3, 4)]
    if bad:
        p.error(f"--stages {bad}: Swin-T has stages 1-4")
    if args.kit is not None and not (args.kit / "kit.json").is_file():
        p.error(f"--kit {args.kit}: not a prepared folder (no kit.json); make it with python -m benchmarks.gpu_kit")
    return args


def prebuilt_problem(kernels: Path, harness: Path) -> str | None:
    """What is missing of the kernel table and harness built ahead of time, with the commands that make them."""
    missing = [str(p) for p in (kernels / "manifest.json", harness) if not p.is_file()]
    if not missing:
        return None
    return (f"missing {', '.join(missing)}: make the prepared folder on any machine (no GPU needed) with "
            "`python -m benchmarks.gpu_kit --sm <this GPU's SM, e.g. 90>` and pass --kit, or build them with "
            "`python -m edge_swin.plugins.swin_window_attention.aot.build --arch <SM>` and "
            "`python -m edge_swin.plugins.swin_window_attention.testing.harness`")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.plot:
        data = json.loads(args.plot.read_text())
        print(frame.plot_goals(data, args.plot.with_name("goals.png")))
        return 0
    why = frame.cuda_unavailable()
    if why:
        print(why)
        return 0
    import os

    import torch
    import triton

    from edge_swin.bench.env import device_id, header

    failed_imports = frame.load_sections(SECTION_MODULES)
    names = args.sections or sorted(frame.SECTIONS, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    unknown = [n for n in names if n not in frame.SECTIONS]
    if unknown:
        print(f"error: unknown section(s) {unknown}; known: {', '.join(frame.SECTIONS)}"
              + (f" (not imported: {failed_imports})" if failed_imports else ""), file=sys.stderr)
        return 1
    kernels = args.kernels or (args.kit / "kernels" if args.kit else DEFAULT_KERNELS)
    harness = args.harness or Path(os.environ.get("EDGE_SWIN_NODE_HARNESS") or kernels / "libedge_swin_node_harness.so")
    problem = prebuilt_problem(kernels, harness)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    out = args.out or args.results_root / device_id(True)
    out.mkdir(parents=True, exist_ok=True)
    ctx = frame.SuiteContext(root=ROOT, out_dir=out, harness=harness.resolve(), kernels_dir=kernels.resolve(),
                             batches=args.batch, stages=args.stages, warmup=args.warmup, runs=args.runs,
                             timeout_s=args.timeout, model_batches=args.model_batch, train_steps=args.train_steps,
                             kit=args.kit.resolve() if args.kit else None)
    head = {**header(), "triton": triton.__version__, "torch_cuda": torch.version.cuda,
            "kernels": str(ctx.kernels_dir), "harness": str(ctx.harness), "kit": str(ctx.kit), "settings": {
                "quick": args.quick, "batches": list(args.batch), "stages": list(args.stages),
                "model_batches": list(args.model_batch), "warmup": args.warmup, "runs": args.runs,
                "train_steps": args.train_steps}}
    results = frame.run_sections(ctx, names, lambda done: frame.write_summary(out, done, head, failed_imports))
    json_path, md_path = frame.write_summary(out, results, head, failed_imports)
    goals = [g for r in results.values() for g in r.goals]
    for g in goals:
        verdict = {True: "pass", False: "FAIL", None: "not measured"}[g.passed]
        print(f"[gpu_suite] {verdict:>12}  {g.name}: {frame.format_value(g.measured, g.unit)} "
              f"(limit {'>= ' if g.at_least else ''}{frame.format_value(g.limit, g.unit)})")
    try:
        print(f"[gpu_suite] {frame.plot_goals(json.loads(json_path.read_text()), out / 'goals.png')}")
    except ImportError:
        print(f"[gpu_suite] no matplotlib here: draw goals.png elsewhere with python benchmarks/gpu_suite.py "
              f"--plot {json_path}")
    print(f"[gpu_suite] {json_path}\n[gpu_suite] {md_path}")
    if any(r.status.startswith("failed") for r in results.values()):
        return 1
    return 2 if args.strict and any(g.passed is False for g in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
