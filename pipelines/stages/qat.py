"""Stage `qat`: Swin-aware INT8 calibration (PTQ), then QAT with distillation from the FP32 model.

Writes the modelopt checkpoint export reloads (`int8.pth`), the calibration
cache, the quantizer summary, and FP32/PTQ/QAT accuracy on the validation split
(JSON + bar chart). A QAT top-1 drop over --max-drop fails the stage, after its
numbers are written, so no engine is built from a model silently worse.
"""
from __future__ import annotations

import copy

from torch.utils.data import DataLoader

from edge_swin.data import build_calibration_source
from edge_swin.stages import Stage
from edge_swin.utils.io import sha256_file, write_json, write_text
from pipelines.stages.context import RunContext


def run(ctx: RunContext) -> None:
    args = ctx.args
    qat_settings = {"epochs": args.qat_epochs, "steps_per_epoch": args.qat_steps or None, "lr": args.qat_lr,
                    "batch_size": args.batch_size, "seed": args.seed}
    inputs = {"weights_sha256": sha256_file(ctx.weights), "data": ctx.data_info,
              "calibration": {"size": args.calib_size, "seed": args.seed, "method": args.calib_method,
                              "class_balanced": True},
              "qat": qat_settings, "max_drop": args.max_drop}
    stage = Stage(ctx.out_dir, "qat", inputs)
    if stage.up_to_date():
        print(f"[qat] up to date: {stage.dir}")
        ctx.stages["qat"] = stage.manifest
        ctx.int8_weights = stage.artifact("int8")
        return

    import edge_swin.quant as quant  # modelopt takes seconds to import: only when this stage runs

    teacher = ctx.build_model(ctx.weights).eval()
    student = copy.deepcopy(teacher)
    source = build_calibration_source(args.data, ctx.img_size, exclude=ctx.excluded_images)
    loader, calib_set = quant.calibration_loader(source, size=args.calib_size, seed=args.seed, batch_size=32)
    calibration = quant.calibrate(student, loader, method=args.calib_method, cache_dir=stage.path("calibration"),
                                  calib_set=calib_set, device=ctx.device)
    summary = quant.format_quant_summary(student)
    print(summary)
    write_text(stage.path("quantizers.txt"), summary + "\n")
    ptq = quant.load_quantized(calibration.path)

    train_set, val_set = ctx.datasets
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers)
    val_loader = DataLoader(val_set, batch_size=2 * args.batch_size, num_workers=args.num_workers)
    config = quant.QATConfig(epochs=args.qat_epochs, lr=args.qat_lr, max_steps_per_epoch=args.qat_steps or None,
                             seed=args.seed, device=ctx.device)
    if args.qat_epochs > 0:
        print(f"[qat] distilling INT8 from FP32: {args.qat_epochs} epoch(s)"
              f"{f' of at most {args.qat_steps} steps' if args.qat_steps else ''}, lr {args.qat_lr:g}")
        qat_result = quant.qat_finetune(student, teacher, train_loader, config, checkpoint_dir=stage.path("checkpoints"),
                                        resume=args.resume)
        history = qat_result.history
    else:
        print("[qat] --qat-epochs 0: the INT8 model is the calibrated (PTQ) one")
        history = []
    int8 = quant.save_quantized(student, stage.path("int8.pth"),
                                metadata={"variant": ctx.variant, "classes": ctx.classes, "calibration": calibration.manifest(),
                                          "qat": qat_settings})
    report = quant.accuracy_report(teacher, ptq, val_loader, qat=student if args.qat_epochs > 0 else None,
                                   max_drop=args.max_drop, device=ctx.device)
    report.update(calibration=calib_set.manifest(), calibration_method=args.calib_method, qat_history=history)
    write_json(stage.path("accuracy.json"), report)
    chart = quant.plot_accuracy(report, f"{ctx.variant} on {ctx.data_info['name']} ({report['n']} images)",
                                stage.path("accuracy.png"))
    print(quant.format_report(report))
    numbers = {name: {k: m[k] for k in ("top1", "top5", "top1_drop", "top1_agreement", "mean_cosine") if k in m}
               for name, m in report["models"].items()}
    numbers["checked"], numbers["passed"] = report["checked"], report["passed"]
    ctx.stages["qat"] = {"stage": "qat", "status": "failed", "numbers": numbers}  # until the check passes
    quant.check_accuracy_drop(report)
    stage.finish({"int8": int8, "accuracy": stage.dir / "accuracy.json", "chart": chart,
                  "quantizers": stage.dir / "quantizers.txt"}, numbers)
    ctx.stages["qat"] = stage.manifest
    ctx.int8_weights = stage.artifact("int8")
