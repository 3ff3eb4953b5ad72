"""The GPU suite's whole-model sections (benchmarks/gpu_suite.py runs them after benchmarks/gpu_sections.py's).

whole_model  Swin-T 224, random weights: eager FP16, torch.compile(mode="reduce-overhead") FP16, our runtime FP16
             and INT8 (+ one row per further runtime precision the GPU has, e.g. FP8), batch 1/8/64, first call
             (compilation) apart; goals: runtime FP16 / torch.compile <= 0.75 at batch 64, runtime INT8 / FP16
             <= 0.7 at batch 64 and <= 1.0 at batch 1
top1         the kit's run checkpoints on the 10,000 test images: PyTorch FP32 vs runtime FP16, modelopt fake
             quant vs runtime INT8; goals: each within 0.05 points of its reference
train        Swin-T training images/s on one GPU, fp32 vs bf16 (benchmarks/train_throughput.py); goal: >= 2.5x

Each runs in a child process (a crash or a hang is that section's result) and writes its JSON next to the
summary. Where the GPU machine has no modelopt, the INT8 rows use the prebuilt models the kit carries.
"""
from __future__ import annotations

import importlib.util
import json

from benchmarks.gpu_kit import KitLayout
from benchmarks.gpu_sections import child_problem, run_child
from edge_swin.bench.gpu_suite import NOT_AVAILABLE, Goal, SectionResult, SuiteContext, section

TOP1_TOLERANCE_POINTS = 0.05
TRAIN_SPEEDUP_GOAL = 2.5


def _child_json(ctx: SuiteContext, name: str, args: list[str], env: dict | None = None,
                timeout_s: int | None = None) -> tuple[dict | None, dict]:
    """(the JSON the child wrote to <out>/<name>.json or None, the child's run record)."""
    out = ctx.out_dir / f"{name}.json"
    out.unlink(missing_ok=True)
    run = run_child(ctx, [*args, "--out", str(out)], env=env, timeout_s=timeout_s)
    run.pop("stdout", None)
    return (json.loads(out.read_text()) if out.is_file() else None), run


def _failed(what: str, run: dict) -> SectionResult:
    return SectionResult(status=f"failed: {what} {child_problem(run) or 'wrote no JSON'}",
                         data={"output_tail": run["output_tail"]})


def _kit(ctx: SuiteContext) -> KitLayout | None:
    return KitLayout(ctx.kit) if ctx.kit else None


# ------------------------------------------------------------------------------------------------ whole model

def whole_model_goals(rows: list[dict]) -> list[Goal]:
    by_batch = {r["batch"]: r for r in rows}

    def ratio(batch, key):
        return by_batch.get(batch, {}).get(key)

    return [Goal("whole Swin-T FP16, our runtime / torch.compile reduce-overhead, batch 64",
                 ratio(64, "runtime_fp16_over_torch_compile_fp16"), 0.75),
            Goal("whole Swin-T INT8 / FP16, our runtime, batch 64", ratio(64, "runtime_int8_over_runtime_fp16"), 0.7),
            Goal("whole Swin-T INT8 / FP16, our runtime, batch 1", ratio(1, "runtime_int8_over_runtime_fp16"), 1.0)]


def whole_model_markdown(result: dict) -> str:
    from edge_swin.bench.whole_model import format_markdown

    lines = [format_markdown(result), "", "First call per batch (compilation, CUDA graph recording), s:", "",
             "| contender | " + " | ".join(f"b{b}" for b in (r["batch"] for r in result["rows"])) + " |",
             "|---" * (len(result["rows"]) + 1) + "|"]
    for name, per_batch in result.get("first_call_s", {}).items():
        lines.append(f"| {name} | " + " | ".join(str(per_batch.get(str(r["batch"]), "-")) for r in result["rows"])
                     + " |")
    lines += ["", "| fidelity | vs | max relative logit error | top-1 agreement |", "|---|---|---|---|"]
    for name, f in result.get("fidelity", {}).items():
        lines.append(f"| {name} | {f['vs']} | {f['max_rel_logit_err']:.1e} | {f['top1_agreement']:.3f} |"
                     if isinstance(f, dict) else f"| {name} | {str(f)[:120]} | | |")
    return "\n".join(lines)


@section("whole_model", "Swin-T 224: eager / torch.compile FP16 vs our runtime FP16 and INT8, batch 1/8/64")
def whole_model(ctx: SuiteContext) -> SectionResult:
    args = ["-m", "edge_swin.bench.whole_model", "--batch", ",".join(map(str, ctx.model_batches)),
            "--runs", str(min(ctx.runs, 30)), "--warmup", "5"]
    kit = _kit(ctx)
    for name, path in (kit.prebuilt_contenders() if kit else {}).items():
        args += ["--prebuilt", f"{name}={path}"]
    # torch.compile takes 20-35 s a shape for each compiled contender: this child gets more than the others
    result, run = _child_json(ctx, "whole_model", args, timeout_s=max(ctx.timeout_s, 480))
    if result is None:
        return _failed("whole_model", run)
    if result.get("status") != "ok":
        return SectionResult(status=result.get("status", "failed: no status"))
    return SectionResult(data={"json": str(ctx.out_dir / "whole_model.json"), "rows": result["rows"],
                               "first_call_s": result["first_call_s"], "fidelity": result["fidelity"]},
                         goals=whole_model_goals(result["rows"]), markdown=whole_model_markdown(result))


# ------------------------------------------------------------------------------------------------ top-1

def top1_goals(accuracy: dict) -> list[Goal]:
    def gap(ours, ref):
        a, b = accuracy.get(ours), accuracy.get(ref)
        return abs(a["top1"] - b["top1"]) if isinstance(a, dict) and isinstance(b, dict) else None

    return [Goal("runtime FP16 top-1 vs PyTorch FP32, test set", gap("runtime_fp16", "pytorch_fp32"),
                 TOP1_TOLERANCE_POINTS, unit="points"),
            Goal("runtime INT8 top-1 vs fake quant, test set", gap("runtime_int8", "pytorch_fake_quant_int8"),
                 TOP1_TOLERANCE_POINTS, unit="points")]


@section("top1", "the kit's run checkpoints on the 10,000 test images: runtime FP16/INT8 vs FP32/fake quant")
def top1(ctx: SuiteContext) -> SectionResult:
    kit = _kit(ctx)
    checkpoints = kit.checkpoints() if kit else {}
    if not checkpoints:
        return SectionResult(status=f"{NOT_AVAILABLE}: no run checkpoints (make the kit with "
                                    "`python -m benchmarks.gpu_kit --run runs/<name>`)")
    args = ["-m", "edge_swin.bench.whole_model", "--accuracy-only"]
    args += [a for key in ("fp32", "int8") if key in checkpoints for a in (f"--{key}", str(checkpoints[key]))]
    if kit.prebuilt_accuracy():
        args += ["--prebuilt", f"int8_accuracy={kit.prebuilt_accuracy()}"]
    result, run = _child_json(ctx, "top1", args, env=kit.data_env())
    if result is None:
        return _failed("top1", run)
    acc = result.get("accuracy", {})
    table = ["| model | top-1 % | agreement with its reference % | max logit difference |", "|---|---|---|---|"]
    for name in ("pytorch_fp32", "runtime_fp16", "pytorch_fake_quant_int8", "runtime_int8"):
        if isinstance(acc.get(name), dict):
            ref = "pytorch_fp32" if name == "runtime_fp16" else "pytorch_fake_quant_int8"
            vs = acc.get(f"{name}_vs_{ref}", {})
            agree, diff = vs.get("top1_agreement"), vs.get("max_logit_diff")
            table.append(f"| {name} | {acc[name]['top1']:.2f} | {'-' if agree is None else f'{agree:.2f}'} | "
                         f"{'-' if diff is None else f'{diff:.3g}'} |")
        elif name in acc:
            table.append(f"| {name} | {acc[name]} | | |")
    if "pytorch_fake_quant_int8_computed" in acc:
        table.append(f"\nFake quant's logits were computed {acc['pytorch_fake_quant_int8_computed']}.")
    return SectionResult(data={"images": acc.get("images"), "accuracy": acc}, goals=top1_goals(acc),
                         markdown="\n".join(table))


# ------------------------------------------------------------------------------------------------ training

def train_goal(rows: list[dict]) -> Goal:
    ips = {r["precision"]: r["images_per_second"] for r in rows}
    ratio = ips["bf16"] / ips["fp32"] if "bf16" in ips and ips.get("fp32") else None
    return Goal("Swin-T training bf16 / fp32 images per second, one GPU", ratio, TRAIN_SPEEDUP_GOAL, at_least=True)


@section("train", "Swin-T training images/s on one GPU, fp32 vs bf16")
def train(ctx: SuiteContext) -> SectionResult:
    if importlib.util.find_spec("torchvision") is None:
        return SectionResult(status=f"{NOT_AVAILABLE}: torchvision is not installed (the trainer's augmentations)")
    result, run = _child_json(ctx, "train", [str(ctx.root / "benchmarks" / "train_throughput.py"), "--arch", "swin_t",
                                             "--batch", "128", "--steps", str(ctx.train_steps),
                                             "--precisions", "fp32,bf16"])
    if result is None:
        return _failed("train_throughput.py", run)
    rows = result["results"]
    table = ["| precision | images/s | global batch | timed steps |", "|---|---|---|---|"]
    table += [f"| {r['precision']} | {r['images_per_second']:,.0f} | {r['global_batch']} | {r['steps']} |"
              for r in rows]
    return SectionResult(data=result, goals=[train_goal(rows)], markdown="\n".join(table))
