"""Stage `train`: train from scratch or fine-tune the model stage's weights on the run's data.

Under torchrun every rank trains (DDP); rank 0 alone writes, the others wait for it.
"""
from __future__ import annotations

from dataclasses import asdict

from edge_swin.utils.manifest import SKIPPED, Stage
from edge_swin.train import TrainConfig, train
from edge_swin.utils import distributed
from edge_swin.train.trainer import LAST
from edge_swin.utils.io import save_torch, sha256_file, write_json
from pipelines.stages.context import RunContext
from pipelines.stages.plots import plot_training
from pipelines.stages.rebuild import begin

# Settings that change how the work is spread, not what it computes: not part of the fingerprint.
NOT_FINGERPRINTED = ("device", "num_workers", "accum_steps")


def config_for(ctx: RunContext) -> TrainConfig:
    args = ctx.args
    return TrainConfig(epochs=ctx.epochs, batch_size=args.batch_size, lr=ctx.lr, weight_decay=args.weight_decay,
                       warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, seed=args.seed,
                       device=ctx.device, num_workers=args.num_workers, precision=args.precision,
                       accum_steps=args.accum_steps, mixup=args.mixup, cutmix=args.cutmix)


def run(ctx: RunContext) -> None:
    config = config_for(ctx)
    # What the result depends on besides the config: a checkpoint made from other ones is not resumed.
    trained_on = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info}
    inputs = {**trained_on, "config": {k: v for k, v in asdict(config).items() if k not in NOT_FINGERPRINTED}}
    stage = Stage(ctx.out_dir, "train", inputs)
    if config.epochs == 0:
        print("[train] skipped: --epochs 0, the model stage's weights go on unchanged")
        ctx.stages["train"] = {"stage": "train", "status": SKIPPED, "note": "--epochs 0"}
        return
    if distributed.broadcast_from_main(stage.up_to_date()):  # rank 0 decides for all
        print(f"[train] up to date: {stage.dir}")
    else:
        distributed.on_main(lambda: _begin(ctx, stage))
        model = ctx.build_model(ctx.weights)
        train_set, val_set = ctx.datasets
        world = distributed.world_size()
        print(f"[train] {config.epochs} epochs on {len(train_set):,} images ({ctx.data_info['name']}), "
              f"batch {config.batch_size}{f' over {world} processes' if world > 1 else ''}, lr {config.lr:g}, "
              f"device {config.device}")
        result = train(model, train_set, val_set, config, stage.dir, resume=ctx.args.resume, inputs=trained_on)
        distributed.on_main(lambda: _write(ctx, stage, config, model, result))
    ctx.stages["train"] = stage.manifest
    ctx.weights = stage.artifact("weights")


def _begin(ctx: RunContext, stage: Stage) -> None:
    begin(ctx, stage)
    if (stage.dir / LAST).is_file() and not ctx.args.resume:
        # Kept until this run's first epoch replaces it (atomically): an interrupt before then loses nothing.
        print(f"[train] starting over; {stage.dir / LAST} (the last run's checkpoint) is kept until this run's "
              "first epoch replaces it (--resume continues it instead)")


def _write(ctx: RunContext, stage: Stage, config: TrainConfig, model, result) -> None:
    weights = stage.path("model.pth")
    save_torch({"model": model.state_dict(), "variant": ctx.variant, "classes": ctx.classes}, weights)
    write_json(stage.path("history.json"), result.history)
    curve = plot_training(result.history, stage.path("curve.png"), title=f"{ctx.variant} on {ctx.data_info['name']}")
    final = result.final
    numbers = {"epochs": config.epochs, "val_top1": final["val_top1"], "val_top5": final["val_top5"],
               "train_minutes": round(sum(h["train_seconds"] for h in result.history) / 60, 2),
               "wall_minutes": round(result.seconds / 60, 2), "resumed_from_epoch": result.resumed_from_epoch,
               "images_per_second": final["images_per_second"], "processes": distributed.world_size(),
               "precision": final["precision"]}
    stage.finish({"weights": weights, "history": stage.dir / "history.json", "curve": curve}, numbers)
    print(f"[train] val top-1 {final['val_top1']:.2f}% after {config.epochs} epochs "
          f"({numbers['wall_minutes']:.1f} min)")
