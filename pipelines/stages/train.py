"""Stage `train`: train from scratch or fine-tune the model stage's weights on the run's data."""
from __future__ import annotations

from dataclasses import asdict

from edge_swin.utils.manifest import SKIPPED, Stage
from edge_swin.train import TrainConfig, train
from edge_swin.train.trainer import LAST
from edge_swin.utils.io import save_torch, sha256_file, write_json
from pipelines.stages.context import RunContext
from pipelines.stages.plots import plot_training


def config_for(ctx: RunContext) -> TrainConfig:
    args = ctx.args
    return TrainConfig(epochs=ctx.epochs, batch_size=args.batch_size, lr=ctx.lr, weight_decay=args.weight_decay,
                       warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, seed=args.seed,
                       device=ctx.device, num_workers=args.num_workers)


def run(ctx: RunContext) -> None:
    config = config_for(ctx)
    inputs = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info,
              "config": {k: v for k, v in asdict(config).items() if k not in ("device", "num_workers")}}
    stage = Stage(ctx.out_dir, "train", inputs)
    if config.epochs == 0:
        print("[train] skipped: --epochs 0, the model stage's weights go on unchanged")
        ctx.stages["train"] = {"stage": "train", "status": SKIPPED, "note": "--epochs 0"}
        return
    if stage.up_to_date():
        print(f"[train] up to date: {stage.dir}")
    else:
        if (stage.dir / LAST).is_file() and not ctx.args.resume:
            print(f"[train] {stage.dir / LAST} holds an unfinished run; starting over (--resume continues it)")
            (stage.dir / LAST).unlink()
        model = ctx.build_model(ctx.weights)
        train_set, val_set = ctx.datasets
        print(f"[train] {config.epochs} epochs on {len(train_set):,} images ({ctx.data_info['name']}), "
              f"batch {config.batch_size}, lr {config.lr:g}, device {config.device}")
        result = train(model, train_set, val_set, config, stage.dir, resume=ctx.args.resume)
        weights = stage.path("model.pth")
        save_torch({"model": model.state_dict(), "variant": ctx.variant, "classes": ctx.classes}, weights)
        write_json(stage.path("history.json"), result.history)
        curve = plot_training(result.history, stage.path("curve.png"), title=f"{ctx.variant} on {ctx.data_info['name']}")
        final = result.final
        numbers = {"epochs": config.epochs, "val_top1": final["val_top1"], "val_top5": final["val_top5"],
                   "train_minutes": round(sum(h["train_seconds"] for h in result.history) / 60, 2),
                   "wall_minutes": round(result.seconds / 60, 2), "resumed_from_epoch": result.resumed_from_epoch,
                   "images_per_second": final["images_per_second"]}
        stage.finish({"weights": weights, "history": stage.dir / "history.json", "curve": curve}, numbers)
        print(f"[train] val top-1 {final['val_top1']:.2f}% after {config.epochs} epochs "
              f"({numbers['wall_minutes']:.1f} min)")
    ctx.stages["train"] = stage.manifest
    ctx.weights = stage.artifact("weights")
