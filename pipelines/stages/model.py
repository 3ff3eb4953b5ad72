"""Stage `model`: the starting weights, fresh from a seed or loaded from the user's checkpoint."""
from __future__ import annotations

import torch

from edge_swin.models import load_checkpoint
from edge_swin.utils.manifest import Stage
from edge_swin.utils.io import save_torch, sha256_file
from pipelines.stages.context import RunContext
from pipelines.stages.rebuild import begin


def run(ctx: RunContext) -> None:
    args = ctx.args
    inputs = {"variant": ctx.variant, "overrides": ctx.model_overrides, "classes": ctx.classes, "seed": args.seed,
              "checkpoint": None, "adapt_head": args.adapt_head, "adapt_window": args.adapt_window}
    if args.checkpoint:
        inputs["checkpoint"] = {"path": str(args.checkpoint), "sha256": _hash_or_none(args.checkpoint)}
    stage = Stage(ctx.out_dir, "model", inputs)
    if stage.up_to_date():
        print(f"[model] up to date: {stage.dir}")
    else:
        begin(ctx, stage)
        torch.manual_seed(args.seed)
        model = ctx.build_model()
        numbers = {"parameters": sum(p.numel() for p in model.parameters()), "source": "random init (seed)"}
        if args.checkpoint:
            loaded = load_checkpoint(model, args.checkpoint, adapt_head=args.adapt_head, adapt_window=args.adapt_window)
            numbers.update(source=f"{loaded.layout} checkpoint", adapted_head=loaded.adapted_head)
        weights = stage.path("model.pth")
        save_torch({"model": model.state_dict(), "variant": ctx.variant, "classes": ctx.classes}, weights)
        stage.finish({"weights": weights}, numbers)
        print(f"[model] {ctx.variant}, {numbers['parameters']:,} parameters, {numbers['source']}")
    ctx.stages["model"] = stage.manifest
    ctx.weights = stage.artifact("weights")


def _hash_or_none(path) -> str | None:
    # A missing file is reported by load_checkpoint with the fix; the fingerprint just records its absence.
    try:
        return sha256_file(path)
    except OSError:
        return None
