"""Stage `evaluate`: top-1/top-5 of the final float model, its ONNX files and its engines on the validation split.

Engines run where a CUDA GPU and the TensorRT that built them are present (edge_swin.trt.engine_runner checks the
sidecar first); elsewhere each is listed as "not available: <reason>", never given a number. The same holds for
the PyTorch runtime on our kernels (edge_swin.runtime: runtime_fp16 from the float weights, runtime_int8 or
runtime_fp8 from the QAT checkpoint), which needs a CUDA GPU but no TensorRT.

The quantized ONNX file (model_int8.onnx or model_fp8.onnx, whichever the run's recipe made) runs in ONNX
Runtime on the CPU; its row carries `top1_minus_fake_quant`: its top-1 minus the fake-quant PyTorch model's
(the qat stage's QAT, else PTQ, number on the same validation images).
"""
from __future__ import annotations

from edge_swin.data import data_loader
from edge_swin.errors import EdgeSwinError
from edge_swin.eval import OrtModel, evaluate
from edge_swin.utils.manifest import Stage
from edge_swin.trt.metadata import cuda_gpu
from edge_swin.utils.io import sha256_file, write_json
from pipelines.stages.context import RunContext
from pipelines.stages.rebuild import begin


def run(ctx: RunContext) -> None:
    gpu = cuda_gpu()
    inputs = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info,
              "onnx": {k: sha256_file(p) for k, p in (("fp32", ctx.onnx_fp32), (ctx.quant_format, ctx.onnx_quant)) if p},
              "engines": {k: sha256_file(p) for k, p in ctx.engines.items()},
              "int8_weights_sha256": sha256_file(ctx.quant_weights) if ctx.quant_weights else None,
              "gpu": f"{gpu.name} sm{gpu.sm}" if gpu else None}  # a GPU appearing makes the engines measurable
    stage = Stage(ctx.out_dir, "evaluate", inputs)
    if stage.up_to_date():
        print(f"[evaluate] up to date: {stage.dir}")
    else:
        begin(ctx, stage)
        model = ctx.build_model(ctx.weights).to(ctx.device)
        _, val_set = ctx.datasets
        loader = data_loader(val_set, 2 * ctx.args.batch_size, num_workers=ctx.args.num_workers)
        metrics = {"pytorch_fp32": evaluate(model, loader, ctx.device, desc="evaluate fp32")}
        if ctx.onnx_fp32:
            metrics["onnxruntime_fp32"] = evaluate(OrtModel(ctx.onnx_fp32), loader, desc="evaluate onnxruntime fp32")
        if ctx.onnx_quant:  # ORT's default session: its own Q/DQ kernels, as a CPU deployment would run the file
            fmt = ctx.quant_format
            m = evaluate(OrtModel(ctx.onnx_quant), loader, desc=f"evaluate onnxruntime {fmt}")
            metrics[f"onnxruntime_{fmt}"] = {**m, **_against_fake_quant(ctx, m)}
        metrics.update(_engines(ctx, loader))
        metrics.update(_runtime(ctx, model, loader))
        write_json(stage.path("metrics.json"), metrics)
        stage.finish({"metrics": stage.dir / "metrics.json"}, metrics)
        for backend, m in metrics.items():
            if "top1" in m:
                print(f"[evaluate] {backend}: top-1 {m['top1']:.2f}%, top-5 {m['top5']:.2f}% on {m['n']:,} images")
            else:
                print(f"[evaluate] {backend}: {m['status']}")
    ctx.stages["evaluate"] = stage.manifest


def _against_fake_quant(ctx: RunContext, m: dict) -> dict:
    """{"top1_minus_fake_quant": points, "fake_quant": "qat"/"ptq"} against the qat stage's model, when it has one."""
    qat = (ctx.stages.get("qat") or {}).get("numbers") or {}
    name = "qat" if "qat" in qat else "ptq" if "ptq" in qat else None
    if name is None or "top1" not in m:
        return {}
    return {"top1_minus_fake_quant": round(m["top1"] - qat[name]["top1"], 4), "fake_quant": name}


def _engines(ctx: RunContext, loader) -> dict:
    """{"<flavour>_<engine>": metrics, or {"status": "not available: <reason>"}} for every engine of the run."""
    from edge_swin.trt.metadata import read_metadata

    found = {}
    for name, path in ctx.engines.items():
        key = f"{read_metadata(path)['tensorrt']['flavour']}_{name}"
        try:
            from edge_swin.trt.engine_runner import EngineRunner

            runner = EngineRunner(path)
        except EdgeSwinError as e:
            found[key] = {"status": f"not available: {e}"}
            continue
        found[key] = evaluate(runner, loader, "cuda", desc=f"evaluate {key}")
    return found


def _runtime(ctx: RunContext, model, loader) -> dict:
    """Top-1 of the model on our kernels as PyTorch ops (edge_swin.runtime), or "not available: <reason>"."""
    from edge_swin.runtime.availability import unavailable_reason

    reason = unavailable_reason("cuda")
    if reason:
        return {name: {"status": f"not available: {reason}"} for name in ("runtime_fp16", f"runtime_{ctx.quant_format}")}
    from edge_swin.runtime import convert  # imports triton: only where it can run

    found = {}
    sources = {"runtime_fp16": (model, "fp16"), f"runtime_{ctx.quant_format}": (ctx.quant_weights, ctx.quant_format)}
    for name, (source, precision) in sources.items():
        if source is None:
            found[name] = {"status": "not available: no QAT checkpoint in this run (the qat stage did not run)"}
            continue
        try:
            runtime = convert(source, precision, device="cuda")
        except EdgeSwinError as e:  # e.g. a model whose head dim or window has no kernel
            found[name] = {"status": f"not available: {e}"}
            continue
        found[name] = evaluate(runtime, loader, "cuda", desc=f"evaluate {name}")
    return found
