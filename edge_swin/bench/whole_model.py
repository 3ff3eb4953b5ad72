"""`whole_model_benchmark`: Swin-T end to end on one GPU, side by side, and the default run's top-1 on our kernels.

    from edge_swin.bench.whole_model import whole_model_benchmark
    result = whole_model_benchmark(batches=(1, 8, 64), fp32_checkpoint="runs/default/train/model.pth",
                                   int8_checkpoint="runs/default/qat/int8.pth", out="results/runtime.json")
    print(format_markdown(result))

Contenders (same random weights, `arch` at its own input size, 1000 classes), a table (contender_table):
  eager_fp16          the PyTorch model in fp16, eager
  torch_compile_fp16  the same under torch.compile(mode="reduce-overhead"): the yardstick
  runtime_fp16        edge_swin.runtime FP16 under the same compile mode
  runtime_int8        edge_swin.runtime INT8 (a copy max-calibrated on `calibration_images` random images: the
                      scales are right for latency, meaningless for accuracy) under the same compile mode
  runtime_<p>         one more row per quantized precision edge_swin.runtime.PRECISIONS gains (FP8: where the GPU
                      has it, sm >= 89), calibrated with QUANT_RECIPES[p]
A quantized row needs modelopt to calibrate; where the GPU machine lacks it, `prebuilt` gives the converted
model written elsewhere (edge_swin.bench.quantized_models; benchmarks/gpu_kit.py makes them on the CPU machine).
Latency: medians of CUDA events over `runs` calls after `warmup`; the first call per batch (compilation,
CUDA graph recording) is timed apart as first_call_s. Fidelity at one batch: max relative logit error and top-1
agreement vs FP32 eager (runtime_int8: vs modelopt's fake-quant model). Accuracy (when checkpoints are given):
the full validation split (the embedded Fashion-MNIST test set by default) through PyTorch FP32, runtime FP16,
modelopt fake quant and runtime INT8 (eager runtime: one graph per batch size would be compiled otherwise).

Without a CUDA GPU it returns {"status": "not available: <reason>"} and measures nothing. device="cpu" under
TRITON_INTERPRET=1 runs the same code through Triton's interpreter (plumbing tests; the times mean nothing).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from edge_swin.bench.quantized_models import calibrated_copy, load_prebuilt
from edge_swin.bench.timing import median_ms
from edge_swin.runtime.availability import unavailable_reason

@dataclass(frozen=True)
class Contender:
    """One row of the side-by-side: how the model runs (eager / torch.compile / our runtime) at which precision."""
    name: str
    kind: str  # "eager", "torch_compile" or "runtime"
    precision: str  # "fp16", or a quantized runtime precision (edge_swin.runtime.PRECISIONS: "int8", "fp8", ...)
    description: str


BASE_CONTENDERS = {c.name: c for c in (
    Contender("eager_fp16", "eager", "fp16", "the PyTorch model in fp16, eager"),
    Contender("torch_compile_fp16", "torch_compile", "fp16", "torch.compile(mode='reduce-overhead'): the yardstick"),
    Contender("runtime_fp16", "runtime", "fp16", "edge_swin.runtime FP16 under the same compile mode"),
    Contender("runtime_int8", "runtime", "int8", "edge_swin.runtime INT8 (swin_int8 placement) under the same mode"),
)}
CONTENDERS = tuple(BASE_CONTENDERS)
# Quantized runtime precisions and the calibration recipe of each (edge_swin.quant.RECIPES); a precision the
# runtime gains (PRECISIONS) becomes a contender where the GPU runs it (MIN_SM).
QUANT_RECIPES = {"int8": "swin_int8", "fp8": "swin_fp8"}
MIN_SM = {"fp8": 89}  # FP8 tensor cores: Ada (8.9), Hopper (9.0) and later


def contender_table(device_sm: int | None = None) -> dict[str, Contender]:
    """The base contenders plus one runtime row per further quantized precision the runtime has and the GPU runs
    (device_sm: e.g. 90; None: this machine's GPU, or no such rows without one)."""
    from edge_swin.runtime import PRECISIONS

    if device_sm is None and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        device_sm = major * 10 + minor
    table = dict(BASE_CONTENDERS)
    for precision in PRECISIONS:
        name = f"runtime_{precision}"
        if name in table or device_sm is None or device_sm < MIN_SM.get(precision, 0):
            continue
        table[name] = Contender(name, "runtime", precision,
                                f"edge_swin.runtime {precision.upper()} under the same mode")
    return table


def whole_model_benchmark(batches=(1, 8, 64), *, arch: str = "swin_t", runs: int = 30, warmup: int = 5,
                          contenders=None, fp32_checkpoint=None, int8_checkpoint=None, data: str | None = None,
                          max_images: int | None = None, calibration_images: int = 32, device: str | None = None,
                          prebuilt: dict | None = None, out=None, progress: bool = True) -> dict:
    """Latency table + fidelity (+ accuracy with checkpoints) as one JSON-able dict; written to `out` if given.

    contenders: names from contender_table() (default: all of it). prebuilt: {contender name or "int8_accuracy":
    path} of quantized runtime models written by `quantized_models.save_prebuilt` where modelopt ran (the GPU machine may lack it).
    """
    device = device or "cuda"
    reason = unavailable_reason(device)
    if reason:
        return {"status": f"not available: {reason}"}
    table = contender_table()
    names = list(contenders or table)
    unknown = set(names) - set(table)
    if unknown:
        raise ValueError(f"unknown contender(s) {sorted(unknown)}: use {', '.join(table)}")
    import triton

    result = {"status": "ok", "device": torch.cuda.get_device_name() if device == "cuda" else device,
              "torch": torch.__version__, "triton": triton.__version__, "model": f"{arch} (random weights)",
              "timer": "CUDA events" if device == "cuda" else "time.perf_counter (interpreter: meaningless)",
              "runs": runs, "warmup": warmup, "contenders": {n: table[n].description for n in names},
              "rows": [], "first_call_s": {}, "fidelity": {}}
    base, models, references, not_built = _contenders(arch, [table[n] for n in names], calibration_images, device,
                                                      prebuilt or {})
    img = base.config["img_size"]
    inputs = {b: torch.randn(b, 3, img, img, generator=torch.Generator().manual_seed(b)).to(device) for b in batches}
    from edge_swin.utils.progress import progress as progress_bar

    bar = progress_bar(total=len(batches) * len(models), desc="whole model", unit="case", disable=not progress)
    for b in batches:
        row = {"batch": b, **{f"{name}_ms": why for name, why in not_built.items()}}
        for name, (fn, dtype) in models.items():
            bar.set_postfix_str(f"{name} b{b}")
            x = inputs[b].to(dtype)
            try:
                start = time.perf_counter()
                with torch.inference_mode():
                    fn(x)
                _sync(device)
                result["first_call_s"].setdefault(name, {})[str(b)] = round(time.perf_counter() - start, 3)
                with torch.inference_mode():
                    row[f"{name}_ms"] = median_ms(lambda: fn(x), warmup, runs, cuda=device == "cuda")
            except Exception as e:  # one contender failing (e.g. compile on an old toolchain) leaves the others
                row[f"{name}_ms"] = f"error: {type(e).__name__}: {str(e)[:200]}"
            bar.update()
        _ratios(row, table)
        result["rows"].append(row)
    bar.close()
    # after the timing, so that first_call_s holds each shape's compilation
    _fidelity(result, base, models, references, inputs[sorted(batches)[len(batches) // 2]])
    del models, references
    if fp32_checkpoint or int8_checkpoint or (prebuilt or {}).get("int8_accuracy"):
        result["accuracy"] = _accuracy(fp32_checkpoint, int8_checkpoint, data, max_images, device,
                                       (prebuilt or {}).get("int8_accuracy"))
    if out:
        from edge_swin.utils.io import write_json

        write_json(Path(out), result)
    return result


def _contenders(arch, wanted: list[Contender], calibration_images, device, prebuilt: dict):
    """(FP32 base, {name: (callable, input dtype)}, {name: fidelity reference}, {name: why not built}).

    The runtime takes float32 images. A quantized runtime row comes from `prebuilt[name]` where given, else it is
    calibrated here (needs modelopt); its fidelity reference is the fake-quant model (or its carried logits)."""
    from edge_swin.models import create_swin
    from edge_swin.runtime.convert import convert

    torch.manual_seed(0)
    base = create_swin(arch, num_classes=1000).eval().to(device)
    compiled = device == "cuda"  # reduce-overhead = CUDA graphs; on a CPU (interpreter) the plain modules
    wrap = (lambda m: torch.compile(m, mode="reduce-overhead")) if compiled else (lambda m: m)  # noqa: E731
    models, references, not_built = {}, {}, {}
    m16 = copy.deepcopy(base).half() if any(c.kind != "runtime" for c in wanted) else None
    for c in wanted:
        try:
            if c.kind == "eager":
                models[c.name] = (m16, torch.float16)
            elif c.kind == "torch_compile":
                models[c.name] = (wrap(m16), torch.float16)
            elif c.precision == "fp16":
                models[c.name] = (convert(base, "fp16", device=device, compile=compiled), torch.float32)
            elif c.name in prebuilt:
                runtime, reference = load_prebuilt(prebuilt[c.name], device)
                models[c.name], references[c.name] = (wrap(runtime), torch.float32), reference
            else:
                fake_quant = calibrated_copy(base, calibration_images, QUANT_RECIPES.get(c.precision, c.precision))
                models[c.name] = (convert(fake_quant, c.precision, device=device, compile=compiled), torch.float32)
                references[c.name] = fake_quant.to(device)
        except Exception as e:  # noqa: BLE001 - e.g. modelopt missing on the GPU machine: that row says why
            not_built[c.name] = f"not available: {type(e).__name__}: {str(e)[:200]}"
    return base, models, references, not_built


def _fidelity(result, base, models, references, x):
    """Max relative logit error and top-1 agreement vs FP32 eager, or a quantized row vs its fake-quant model
    (a prebuilt row: vs the fake-quant logits carried with it, on the input carried with it)."""
    with torch.inference_mode():
        ref32 = base(x).double()
        for name, (fn, dtype) in models.items():
            reference, inp = references.get(name), x
            if isinstance(reference, tuple):  # carried input: eager, not a recompile of the graph for its batch
                inp, ref = reference[0].to(x.device), reference[1].to(x.device).double()
                fn = getattr(fn, "_orig_mod", fn)
            else:
                ref = reference(x).double() if reference is not None else ref32
            try:
                y = fn(inp.to(dtype)).double()
            except Exception as e:  # noqa: BLE001  (reported, the latency loop reports it again)
                result["fidelity"][name] = f"error: {type(e).__name__}: {str(e)[:200]}"
                continue
            result["fidelity"][name] = {
                "vs": "modelopt fake quant" if reference is not None else "fp32 eager", "batch": int(inp.shape[0]),
                "max_rel_logit_err": float((y - ref).abs().max() / ref.abs().max()),
                "top1_agreement": float((y.argmax(1) == ref.argmax(1)).double().mean())}


def _ratios(row, table):
    """The goals' ratios: our FP16 runtime over torch.compile, each quantized runtime over our FP16 runtime."""
    def ratio(a, b):
        va, vb = row.get(f"{a}_ms"), row.get(f"{b}_ms")
        return round(va / vb, 3) if isinstance(va, float) and isinstance(vb, float) else None

    row["runtime_fp16_over_torch_compile_fp16"] = ratio("runtime_fp16", "torch_compile_fp16")
    for c in table.values():
        if c.kind == "runtime" and c.precision != "fp16":
            row[f"{c.name}_over_runtime_fp16"] = ratio(c.name, "runtime_fp16")


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _accuracy(fp32_checkpoint, int8_checkpoint, data, max_images, device, int8_prebuilt=None) -> dict:
    """Top-1 on the validation split: PyTorch FP32 vs runtime FP16, fake quant vs runtime INT8, and agreement.

    Without modelopt here, `int8_prebuilt` (quantized_models.save_prebuilt: the QAT checkpoint converted where modelopt ran, with
    the fake-quant logits of the same split computed there) gives the INT8 pair."""
    from torch.utils.data import DataLoader, Subset

    from edge_swin.data import embedded_dataset, eval_transform, image_folder
    from edge_swin.eval.metrics import accuracy_from_logits, agreement, predict
    from edge_swin.runtime.convert import load_model

    def loader(img):  # the split build_datasets gives the pipeline's evaluate stage, without the train split
        val = embedded_dataset("val", eval_transform(img, 1.0)) if data is None else \
            image_folder(data, "val", eval_transform(img))
        if max_images:
            val = Subset(val, range(min(max_images, len(val))))
        return DataLoader(val, batch_size=500, shuffle=False)

    out, pairs = {}, []
    if fp32_checkpoint:
        pairs.append(("pytorch_fp32", "runtime_fp16",
                      lambda: _reference_pair(load_model(fp32_checkpoint), "fp16", device)))
    if int8_checkpoint and _has_modelopt():
        pairs.append(("pytorch_fake_quant_int8", "runtime_int8",
                      lambda: _reference_pair(load_model(int8_checkpoint), "int8", device)))
    elif int8_prebuilt:
        pairs.append(("pytorch_fake_quant_int8", "runtime_int8", lambda: load_prebuilt(int8_prebuilt, device)[::-1]))
        out["pytorch_fake_quant_int8_computed"] = "where the prebuilt file was written (modelopt is not installed here)"
    elif int8_checkpoint:
        out["runtime_int8"] = "not available: modelopt is not installed here and no prebuilt INT8 model was given"
    for ref_name, ours_name, build in pairs:
        reference, ours = build()
        img = ours.img_size
        our_logits, targets = predict(ours.to(device), loader(img), device, desc=ours_name)
        if isinstance(reference, tuple):  # carried logits of the whole split, in order
            ref_logits = reference[1][:len(targets)]
        else:
            ref_logits, _ = predict(reference.to(device), loader(img), device, desc=ref_name)
        out[ref_name] = accuracy_from_logits(ref_logits, targets)
        out[ours_name] = accuracy_from_logits(our_logits, targets)
        out[f"{ours_name}_vs_{ref_name}"] = {**agreement(our_logits, ref_logits),
                                             "max_logit_diff": float((our_logits - ref_logits).abs().max())}
        out["images"] = len(targets)
    return out


def _reference_pair(model, precision, device):
    """(the PyTorch model, our runtime of it on `device`)."""
    from edge_swin.runtime.convert import convert

    return model.eval(), convert(model, precision, device=device)


def _has_modelopt() -> bool:
    import importlib.util

    return importlib.util.find_spec("modelopt") is not None


def format_markdown(result: dict) -> str:
    """The latency rows as a markdown table (ms per batch, then the ratios), or the reason nothing was measured."""
    if result.get("status") != "ok":
        return f"whole-model benchmark: {result.get('status')}"
    names = list(result.get("contenders") or CONTENDERS)
    ratios = [k for k in result["rows"][0] if k.endswith(("_over_runtime_fp16", "_over_torch_compile_fp16"))]
    lines = [f"Swin whole model on {result['device']} ({result['model']}; {result['timer']}, median of "
             f"{result['runs']})", "", "| batch | " + " | ".join([f"{n} ms" for n in names] + ratios) + " |",
             "|---" * (len(names) + len(ratios) + 1) + "|"]
    for row in result["rows"]:
        cells = [f"{row[f'{n}_ms']:.3f}" if isinstance(row.get(f"{n}_ms"), float) else str(row.get(f"{n}_ms"))[:80]
                 for n in names] + [str(row[k]) for k in ratios]
        lines.append(f"| {row['batch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """python -m edge_swin.bench.whole_model [--batch 1,8,64] [--fp32 train/model.pth] [--int8 qat/int8.pth]
    [--prebuilt runtime_int8=PATH] [--accuracy-only] [--prebuild DIR] [--out x.json]"""
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", default="1,8,64")
    p.add_argument("--arch", default="swin_t")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--fp32", default=None, help="a run's train/model.pth: its top-1 in PyTorch FP32 and runtime FP16")
    p.add_argument("--int8", default=None, help="a run's qat/int8.pth: its top-1 in fake quant and runtime INT8")
    p.add_argument("--prebuilt", action="append", default=[], metavar="NAME=PATH",
                   help="a quantized contender (runtime_int8, ...) or int8_accuracy from save_prebuilt's file, for "
                        "a machine without modelopt")
    p.add_argument("--accuracy-only", action="store_true", help="only the top-1 of the checkpoints (no latency)")
    p.add_argument("--prebuild", default=None, metavar="DIR",
                   help="write the prebuilt INT8 models (prebuild()) into DIR and stop (where modelopt is)")
    p.add_argument("--max-images", type=int, default=None, help="top-1 on the first N validation images only")
    p.add_argument("--out", default=None, help="write the JSON here")
    args = p.parse_args(argv)
    prebuilt = dict(item.split("=", 1) for item in args.prebuilt)
    if args.prebuild:
        from edge_swin.bench.quantized_models import prebuild

        for path in prebuild(args.prebuild, arch=args.arch, int8_checkpoint=args.int8, max_images=args.max_images):
            print(path)
        return 0
    if args.accuracy_only:
        reason = unavailable_reason("cuda")
        result = {"status": f"not available: {reason}"} if reason else {
            "status": "ok", "device": torch.cuda.get_device_name(), "torch": torch.__version__,
            "accuracy": _accuracy(args.fp32, args.int8, None, args.max_images, "cuda", prebuilt.get("int8_accuracy"))}
        if args.out and result["status"] == "ok":
            from edge_swin.utils.io import write_json

            write_json(Path(args.out), result)
        print(json.dumps(result, indent=1))
        return 0 if result["status"] == "ok" else 1
    result = whole_model_benchmark(tuple(int(b) for b in args.batch.split(",")), arch=args.arch, runs=args.runs,
                                   warmup=args.warmup, fp32_checkpoint=args.fp32, int8_checkpoint=args.int8,
                                   prebuilt=prebuilt, out=args.out)
    print(format_markdown(result))
    if result.get("status") == "ok":
        print(json.dumps({k: result[k] for k in ("first_call_s", "fidelity", "accuracy") if k in result}, indent=1))
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
