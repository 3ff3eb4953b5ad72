"""Stage `evaluate`: top-1/top-5 of the final float model on the validation split."""
from __future__ import annotations

from torch.utils.data import DataLoader

from edge_swin.eval import OrtModel, evaluate
from edge_swin.stages import Stage
from edge_swin.utils.io import sha256_file, write_json
from pipelines.stages.context import RunContext


def run(ctx: RunContext) -> None:
    inputs = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info,
              "onnx": {k: sha256_file(p) for k, p in (("fp32", ctx.onnx_fp32), ("int8", ctx.onnx_int8)) if p}}
    stage = Stage(ctx.out_dir, "evaluate", inputs)
    if stage.up_to_date():
        print(f"[evaluate] up to date: {stage.dir}")
    else:
        model = ctx.build_model(ctx.weights).to(ctx.device)
        _, val_set = ctx.datasets
        loader = DataLoader(val_set, batch_size=2 * ctx.args.batch_size, num_workers=ctx.args.num_workers)
        metrics = {"pytorch_fp32": evaluate(model, loader, ctx.device, desc="evaluate fp32")}
        if ctx.onnx_fp32:
            metrics["onnxruntime_fp32"] = evaluate(OrtModel(ctx.onnx_fp32), loader, desc="evaluate onnxruntime fp32")
        if ctx.onnx_int8:  # ORT's default session: its integer kernels, as a CPU deployment would run the file
            metrics["onnxruntime_int8"] = evaluate(OrtModel(ctx.onnx_int8), loader, desc="evaluate onnxruntime int8")
        write_json(stage.path("metrics.json"), metrics)
        stage.finish({"metrics": stage.dir / "metrics.json"}, metrics)
        for backend, m in metrics.items():
            print(f"[evaluate] {backend}: top-1 {m['top1']:.2f}%, top-5 {m['top5']:.2f}% on {m['n']:,} images")
    ctx.stages["evaluate"] = stage.manifest
