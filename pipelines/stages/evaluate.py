"""Stage `evaluate`: top-1/top-5 of the final float model on the validation split."""
from __future__ import annotations

from torch.utils.data import DataLoader

from edge_swin.eval import evaluate
from edge_swin.stages import Stage
from edge_swin.utils.io import sha256_file, write_json
from pipelines.stages.context import RunContext


def run(ctx: RunContext) -> None:
    stage = Stage(ctx.out_dir, "evaluate", {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info})
    if stage.up_to_date():
        print(f"[evaluate] up to date: {stage.dir}")
    else:
        model = ctx.build_model(ctx.weights).to(ctx.device)
        _, val_set = ctx.datasets
        loader = DataLoader(val_set, batch_size=2 * ctx.args.batch_size, num_workers=ctx.args.num_workers)
        metrics = {"pytorch_fp32": evaluate(model, loader, ctx.device, desc="evaluate fp32")}
        write_json(stage.path("metrics.json"), metrics)
        stage.finish({"metrics": stage.dir / "metrics.json"}, metrics)
        print(f"[evaluate] PyTorch FP32: top-1 {metrics['pytorch_fp32']['top1']:.2f}%, "
              f"top-5 {metrics['pytorch_fp32']['top5']:.2f}% on {metrics['pytorch_fp32']['n']:,} images")
    ctx.stages["evaluate"] = stage.manifest
