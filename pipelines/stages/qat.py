"""Stage `qat`: Swin-aware INT8 or FP8 calibration (PTQ), then QAT with distillation from the FP32 model.

The format is the recipe's (--quant-recipe swin_int8 / swin_fp8; by default the target's default low precision,
RunContext.quant_format). Writes the modelopt checkpoint export reloads (`int8.pth` / `fp8.pth`), the calibration
cache, the quantizer summary, and FP32/PTQ/QAT accuracy on the validation split
(JSON + bar chart). A QAT top-1 drop over --max-drop fails the stage, after its
numbers are written, so no engine is built from a model silently worse: the
model that failed is not written as `int8.pth`, and the stage's manifest says
"failed" (the previous INT8 model, if any, stays beside it, marked stale).

Under torchrun rank 0 calibrates once and writes the calibration cache; the
other ranks restore that file (the same amax, bit for bit), then every rank
distils its share of each global batch (DDP) and rank 0 writes the results.
"""
from __future__ import annotations

import copy

from edge_swin.data import build_calibration_source, data_loader, index_loader
from edge_swin.errors import EdgeSwinError
from edge_swin.utils.manifest import FAILED, Stage
from edge_swin.utils import distributed
from edge_swin.train.batches import RankBatches, SeededSamples
from edge_swin.utils.io import sha256_file, write_json, write_text
from pipelines.stages.context import RunContext
from pipelines.stages.rebuild import begin


def run(ctx: RunContext) -> None:
    args = ctx.args
    qat_settings = {"epochs": args.qat_epochs, "steps_per_epoch": args.qat_steps or None, "lr": args.qat_lr,
                    "batch_size": args.batch_size, "seed": args.seed, "precision": args.precision}
    inputs = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info,
              "calibration": {"size": args.calib_size, "seed": args.seed, "method": args.calib_method,
                              "class_balanced": True, "recipe": args.quant_recipe},
              "qat": qat_settings, "max_drop": args.max_drop}
    stage = Stage(ctx.out_dir, "qat", inputs)
    if distributed.broadcast_from_main(stage.up_to_date()):  # rank 0 decides for all
        print(f"[qat] up to date: {stage.dir}")
        ctx.stages["qat"] = stage.manifest
        ctx.quant_weights = stage.artifact(ctx.quant_format)
        return
    world = distributed.world_size()
    if args.batch_size % world:
        raise EdgeSwinError(f"--batch-size {args.batch_size} (global) does not split into {world} processes: "
                            f"choose a multiple of {world}")

    import edge_swin.quant as quant  # modelopt takes seconds to import: only when this stage runs

    begin(ctx, stage)

    teacher = ctx.build_model(ctx.weights).eval()
    student = copy.deepcopy(teacher)
    source = build_calibration_source(args.data, ctx.img_size, exclude=ctx.excluded_images)
    loader, calib_set = quant.calibration_loader(source, size=args.calib_size, seed=args.seed, batch_size=32)

    def calibrate():
        return quant.calibrate(student, loader, method=args.calib_method, recipe=args.quant_recipe,
                               cache_dir=stage.dir / "calibration",
                               calib_set=calib_set, device=ctx.device)

    calibration = distributed.on_main(calibrate)  # once, on rank 0, which writes the cache ...
    if not distributed.is_main():
        calibration = calibrate()  # ... that the others restore
    summary = quant.format_quant_summary(student)
    print(summary)

    train_set, val_set = ctx.datasets
    seeded = SeededSamples(train_set)
    # This rank's share of each global batch of --batch-size images (qat_finetune reseeds it every epoch);
    # whole in-memory batches when the data has a batch recipe (the embedded dataset).
    train_loader = index_loader(seeded, RankBatches(seeded, args.batch_size, world, distributed.rank()),
                                args.num_workers)
    config = quant.QATConfig(epochs=args.qat_epochs, lr=args.qat_lr, max_steps_per_epoch=args.qat_steps or None,
                             seed=args.seed, device=ctx.device, precision=args.precision)
    if args.qat_epochs > 0:
        print(f"[qat] distilling {ctx.quant_format.upper()} from FP32: {args.qat_epochs} epoch(s)"
              f"{f' of at most {args.qat_steps} steps' if args.qat_steps else ''}, lr {args.qat_lr:g}"
              f"{f', {world} processes' if world > 1 else ''}")
        qat_result = quant.qat_finetune(student, teacher, train_loader, config, checkpoint_dir=stage.dir / "checkpoints",
                                        resume=args.resume, inputs={"weights_sha256": inputs["weights_sha256"],
                                                                    "data": ctx.data_info})
        history = qat_result.history
    else:
        print(f"[qat] --qat-epochs 0: the {ctx.quant_format.upper()} model is the calibrated (PTQ) one")
        history = []
    distributed.on_main(lambda: _write(ctx, stage, quant, student, teacher, calibration, calib_set, summary, history,
                                       val_set, qat_settings))
    ctx.stages["qat"] = stage.manifest
    ctx.quant_weights = stage.artifact(ctx.quant_format)


def _write(ctx: RunContext, stage: Stage, quant, student, teacher, calibration, calib_set, summary: str,
           history: list[dict], val_set, qat_settings: dict) -> None:
    from edge_swin.quant.checkpoint import sidecar

    args = ctx.args
    write_text(stage.path("quantizers.txt"), summary + "\n")
    ptq = quant.load_quantized(calibration.path, fix=f"delete {calibration.path} to recalibrate")
    val_loader = data_loader(val_set, 2 * args.batch_size, num_workers=args.num_workers)
    report = quant.accuracy_report(teacher, ptq, val_loader, qat=student if args.qat_epochs > 0 else None,
                                   max_drop=args.max_drop, device=ctx.device)
    report.update(calibration=calib_set.manifest(), calibration_method=args.calib_method, qat_history=history,
                  format=ctx.quant_format, recipe=args.quant_recipe)
    write_json(stage.path("accuracy.json"), report)
    chart = quant.plot_accuracy(report, f"{ctx.variant} on {ctx.data_info['name']} ({report['n']} images)",
                                stage.path("accuracy.png"))
    print(quant.format_report(report))
    numbers = {name: {k: m[k] for k in ("top1", "top5", "top1_drop", "top1_agreement", "mean_cosine") if k in m}
               for name, m in report["models"].items()}
    numbers["checked"], numbers["passed"] = report["checked"], report["passed"]
    numbers["format"], numbers["recipe"] = ctx.quant_format, args.quant_recipe
    fmt = ctx.quant_format
    measured = {"accuracy": stage.dir / "accuracy.json", "chart": chart, "quantizers": stage.dir / "quantizers.txt"}
    if not report["passed"]:  # the model that failed never becomes int8.pth / fp8.pth: nothing downstream can pick it up
        ctx.stages["qat"] = stage.finish(measured, numbers, status=FAILED, note=f"{fmt.upper()} drop check failed")
    quant.check_accuracy_drop(report)
    weights = quant.save_quantized(student, stage.path(f"{fmt}.pth"),
                                   metadata={"variant": ctx.variant, "classes": ctx.classes,
                                             "calibration": calibration.manifest(), "qat": qat_settings})
    stage.finish({fmt: weights, f"{fmt}_metadata": sidecar(weights), **measured}, numbers)
