"""`whole_model_benchmark`: Swin-T end to end on one GPU, side by side, and the default run's top-1 on our kernels.

    from edge_swin.bench.whole_model import whole_model_benchmark
    result = whole_model_benchmark(batches=(1, 8, 64), fp32_checkpoint="runs/default/train/model.pth",
                                   int8_checkpoint="runs/default/qat/int8.pth", out="results/runtime.json")
    print(format_markdown(result))

Contenders (same random weights, `arch` at its own input size, 1000 classes):
  eager_fp16          the PyTorch model in fp16, eager
  torch_compile_fp16  the same under torch.compile(mode="reduce-overhead"): the yardstick (issue 14)
  runtime_fp16        edge_swin.runtime FP16 under the same compile mode
  runtime_int8        edge_swin.runtime INT8 (a copy max-calibrated on `calibration_images` random images: the
                      scales are right for latency, meaningless for accuracy) under the same compile mode
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
from pathlib import Path

import numpy as np
import torch

from edge_swin.bench.timing import timed_runs
from edge_swin.runtime.availability import unavailable_reason

CONTENDERS = ("eager_fp16", "torch_compile_fp16", "runtime_fp16", "runtime_int8")


def whole_model_benchmark(batches=(1, 8, 64), *, arch: str = "swin_t", runs: int = 30, warmup: int = 5,
                          contenders=CONTENDERS, fp32_checkpoint=None, int8_checkpoint=None, data: str | None = None,
                          max_images: int | None = None, calibration_images: int = 32, device: str | None = None,
                          out=None, progress: bool = True) -> dict:
    """Latency table + fidelity (+ accuracy with checkpoints) as one JSON-able dict; written to `out` if given."""
    device = device or "cuda"
    reason = unavailable_reason(device)
    if reason:
        return {"status": f"not available: {reason}"}
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        raise ValueError(f"unknown contender(s) {sorted(unknown)}: use {', '.join(CONTENDERS)}")
    import triton

    result = {"status": "ok", "device": torch.cuda.get_device_name() if device == "cuda" else device,
              "torch": torch.__version__, "triton": triton.__version__, "model": f"{arch} (random weights)",
              "timer": "CUDA events" if device == "cuda" else "time.perf_counter (interpreter: meaningless)",
              "runs": runs, "warmup": warmup, "rows": [], "first_call_s": {}, "fidelity": {}}
    base, models, fake_quant = _contenders(arch, contenders, calibration_images, device)
    img = base.config["img_size"]
    inputs = {b: torch.randn(b, 3, img, img, generator=torch.Generator().manual_seed(b)).to(device) for b in batches}
    from edge_swin.utils.progress import progress as progress_bar

    bar = progress_bar(total=len(batches) * len(models), desc="whole model", unit="case", disable=not progress)
    for b in batches:
        row = {"batch": b}
        for name, (fn, dtype) in models.items():
            bar.set_postfix_str(f"{name} b{b}")
            x = inputs[b].to(dtype)
            try:
                start = time.perf_counter()
                with torch.inference_mode():
                    fn(x)
                _sync(device)
                result["first_call_s"].setdefault(name, {})[str(b)] = round(time.perf_counter() - start, 3)
                row[f"{name}_ms"] = _median_ms(lambda: fn(x), warmup, runs, device)
            except Exception as e:  # one contender failing (e.g. compile on an old toolchain) leaves the others
                row[f"{name}_ms"] = f"error: {type(e).__name__}: {str(e)[:200]}"
            bar.update()
        _ratios(row)
        result["rows"].append(row)
    bar.close()
    # after the timing, so that first_call_s holds each shape's compilation
    _fidelity(result, base, models, fake_quant, inputs[sorted(batches)[len(batches) // 2]])
    del models, fake_quant
    if fp32_checkpoint or int8_checkpoint:
        result["accuracy"] = _accuracy(fp32_checkpoint, int8_checkpoint, data, max_images, device)
    if out:
        from edge_swin.utils.io import write_json

        write_json(Path(out), result)
    return result


def _contenders(arch, names, calibration_images, device):
    """(FP32 base, {name: (callable, input dtype)}, fake-quant model or None); the runtime takes float32 images."""
    from edge_swin.models import create_swin
    from edge_swin.runtime.convert import convert

    torch.manual_seed(0)
    base = create_swin(arch, num_classes=1000).eval().to(device)
    compiled = device == "cuda"  # reduce-overhead = CUDA graphs; on a CPU (interpreter) the plain modules
    models, fake_quant = {}, None
    if "eager_fp16" in names or "torch_compile_fp16" in names:
        m16 = copy.deepcopy(base).half()
        if "eager_fp16" in names:
            models["eager_fp16"] = (m16, torch.float16)
        if "torch_compile_fp16" in names:
            models["torch_compile_fp16"] = (torch.compile(m16, mode="reduce-overhead") if compiled else m16,
                                            torch.float16)
    if "runtime_fp16" in names:
        models["runtime_fp16"] = (convert(base, "fp16", device=device, compile=compiled), torch.float32)
    if "runtime_int8" in names:
        fake_quant = _calibrated(base, calibration_images)
        models["runtime_int8"] = (convert(fake_quant, "int8", device=device, compile=compiled), torch.float32)
        fake_quant = fake_quant.to(device)  # the fidelity reference of runtime_int8
    return base, models, fake_quant


def _calibrated(base, n):
    """A copy of `base` with the swin_int8 placement, max-calibrated on n seeded random images (latency only)."""
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin.quant import calibrate

    img = base.config["img_size"]
    images = torch.randn(n, 3, img, img, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(images, torch.zeros(n, dtype=torch.long)), batch_size=min(n, 16))
    model = copy.deepcopy(base).cpu()
    model.variant, model.config = base.variant, base.config
    return calibrate(model, loader, "max", progress=False).model.eval()


def _fidelity(result, base, models, fake_quant, x):
    with torch.inference_mode():
        ref32 = base(x).double()
        ref8 = fake_quant(x).double() if fake_quant is not None else None
        for name, (fn, dtype) in models.items():
            ref = ref8 if name == "runtime_int8" else ref32
            try:
                y = fn(x.to(dtype)).double()
            except Exception as e:  # noqa: BLE001  (reported, the latency loop reports it again)
                result["fidelity"][name] = f"error: {type(e).__name__}: {str(e)[:200]}"
                continue
            result["fidelity"][name] = {
                "vs": "modelopt fake quant" if name == "runtime_int8" else "fp32 eager", "batch": int(x.shape[0]),
                "max_rel_logit_err": float((y - ref).abs().max() / ref.abs().max()),
                "top1_agreement": float((y.argmax(1) == ref.argmax(1)).double().mean())}


def _ratios(row):
    def ratio(a, b):
        va, vb = row.get(f"{a}_ms"), row.get(f"{b}_ms")
        return round(va / vb, 3) if isinstance(va, float) and isinstance(vb, float) else None

    # the goals: runtime_fp16 <= 0.75x compile at b64 (<= 1.0x at b1); int8 <= 0.7x fp16 at b64
    row["runtime_fp16_over_torch_compile_fp16"] = ratio("runtime_fp16", "torch_compile_fp16")
    row["runtime_int8_over_runtime_fp16"] = ratio("runtime_int8", "runtime_fp16")


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn, warmup, runs, device) -> float:
    """Median of `runs` timed calls (bench.timing's loop: CUDA events on a GPU, perf_counter elsewhere)."""
    with torch.inference_mode():
        times = timed_runs(fn, warmup=warmup, runs=runs, cuda=device == "cuda")
    return float(np.median(times))


def _accuracy(fp32_checkpoint, int8_checkpoint, data, max_images, device) -> dict:
    """Top-1 on the validation split: PyTorch FP32 vs runtime FP16, fake quant vs runtime INT8, and agreement."""
    from torch.utils.data import DataLoader, Subset

    from edge_swin.data import embedded_dataset, eval_transform, image_folder
    from edge_swin.eval.metrics import accuracy_from_logits, agreement, predict
    from edge_swin.runtime.convert import convert, load_model

    out = {}
    pairs = [("fp32", fp32_checkpoint, "pytorch_fp32", "runtime_fp16"),
             ("int8", int8_checkpoint, "pytorch_fake_quant_int8", "runtime_int8")]
    for precision, path, ref_name, ours_name in pairs:
        if not path:
            continue
        model = load_model(path).eval()
        img = model.config["img_size"] if hasattr(model, "config") else 224
        # the split build_datasets gives the pipeline's evaluate stage, without loading the train split too
        val = embedded_dataset("val", eval_transform(img, 1.0)) if data is None else \
            image_folder(data, "val", eval_transform(img))
        if max_images:
            val = Subset(val, range(min(max_images, len(val))))
        loader = DataLoader(val, batch_size=500, shuffle=False)
        ours = convert(model, "fp16" if precision == "fp32" else "int8", device=device)
        ref_logits, targets = predict(model.to(device), loader, device, desc=ref_name)
        our_logits, _ = predict(ours, loader, device, desc=ours_name)
        out[ref_name] = accuracy_from_logits(ref_logits, targets)
        out[ours_name] = accuracy_from_logits(our_logits, targets)
        out[f"{ours_name}_vs_{ref_name}"] = {**agreement(our_logits, ref_logits),
                                             "max_logit_diff": float((our_logits - ref_logits).abs().max())}
        out["images"] = len(targets)
    return out


def format_markdown(result: dict) -> str:
    """The latency rows as a markdown table (ms per batch), or the reason nothing was measured."""
    if result.get("status") != "ok":
        return f"whole-model benchmark: {result.get('status')}"
    names = [n for n in CONTENDERS if any(f"{n}_ms" in r for r in result["rows"])]
    lines = [f"Swin whole model on {result['device']} ({result['model']}; {result['timer']}, median of "
             f"{result['runs']})", "", "| batch | " + " | ".join(f"{n} ms" for n in names)
             + " | fp16 ours / compile | int8 / fp16 ours |", "|---" * (len(names) + 3) + "|"]
    for row in result["rows"]:
        cells = [f"{row[f'{n}_ms']:.3f}" if isinstance(row.get(f"{n}_ms"), float) else str(row.get(f"{n}_ms"))
                 for n in names]
        lines.append(f"| {row['batch']} | " + " | ".join(cells) + f" | {row['runtime_fp16_over_torch_compile_fp16']}"
                     f" | {row['runtime_int8_over_runtime_fp16']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """python -m edge_swin.bench.whole_model [--batch 1,8,64] [--fp32 train/model.pth] [--int8 qat/int8.pth] [--out x.json]"""
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", default="1,8,64")
    p.add_argument("--arch", default="swin_t")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--fp32", default=None, help="a run's train/model.pth: its top-1 in PyTorch FP32 and runtime FP16")
    p.add_argument("--int8", default=None, help="a run's qat/int8.pth: its top-1 in fake quant and runtime INT8")
    p.add_argument("--out", default=None, help="write the JSON here")
    args = p.parse_args(argv)
    result = whole_model_benchmark(tuple(int(b) for b in args.batch.split(",")), arch=args.arch, runs=args.runs,
                                   fp32_checkpoint=args.fp32, int8_checkpoint=args.int8, out=args.out)
    print(format_markdown(result))
    if result.get("status") == "ok":
        print(json.dumps({k: result[k] for k in ("first_call_s", "fidelity", "accuracy") if k in result}, indent=1))
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
