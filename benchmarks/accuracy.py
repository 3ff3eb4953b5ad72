"""Accuracy of FP32, PTQ-only and QAT INT8 Swin on one validation set: JSON plus a bar chart.

    python benchmarks/accuracy.py                              # embedded dataset, swin_nano, random init (plumbing only)
    python benchmarks/accuracy.py --fp32-epochs 3              # train the FP32 model first (embedded dataset: minutes)
    python benchmarks/accuracy.py --data DIR --model swin_t --checkpoint swin_tiny.pth --img-size 224

DIR is an ImageFolder tree (DIR/train/<class>/..., DIR/val/<class>/...). The
FP32 model is the teacher; a copy is calibrated on a seeded, class-balanced
subset of the training split (with the validation transform), a copy of that is
the PTQ model, and the calibrated model is fine-tuned with distillation (QAT).
All three are evaluated on the same validation images. Calibration and QAT
checkpoints go under --workdir, so a rerun reuses them.

Writes --out (JSON: report, settings, calibration manifest, QAT history,
timings, versions) and a PNG bar chart beside it. Exits 1 when the checked
INT8 model's top-1 drop exceeds --max-drop (after writing both files), 2 on a
usage or data error.
"""
from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.utils.cli_numbers import (COUNT, NON_NEGATIVE, POSITIVE, POSITIVE_INT, SEED, Bounded,  # noqa: E402
                                        add_number)

RESULTS = ROOT / "benchmarks" / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="ImageFolder root with train/ and val/ (default: the embedded dataset)")
    p.add_argument("--model", default="swin_nano", help="variant name or alias (default: swin_nano)")
    p.add_argument("--checkpoint", default=None, help="FP32 weights (Microsoft or timm layout); default: random init")
    add_number(p, "--img-size", type=POSITIVE_INT, default=None, help="input size (default: the variant's)")
    add_number(p, "--fp32-epochs", type=COUNT, default=0,
               help="without --checkpoint, first train the FP32 model this many epochs (edge_swin.train)")
    add_number(p, "--calib-size", type=POSITIVE_INT, default=512)
    add_number(p, "--calib-seed", type=SEED, default=0)
    p.add_argument("--method", default="max", choices=("max", "percentile", "entropy"))
    add_number(p, "--percentile", type=Bounded(float, 0.0, 100.0, low_open=True), default=99.99)
    add_number(p, "--qat-epochs", type=COUNT, default=1)
    add_number(p, "--qat-lr", type=POSITIVE, default=1e-5)
    add_number(p, "--qat-steps", type=POSITIVE_INT, default=None, help="cap on QAT steps per epoch (smoke runs)")
    add_number(p, "--temperature", type=POSITIVE, default=2.0)
    add_number(p, "--alpha", type=Bounded(float, 0.0, 1.0), default=0.5, help="weight of the distillation term")
    add_number(p, "--batch-size", type=POSITIVE_INT, default=64)
    add_number(p, "--val-limit", type=POSITIVE_INT, default=None, help="evaluate on a seeded class-balanced subset of this size")
    add_number(p, "--max-drop", type=NON_NEGATIVE, default=1.0, help="allowed QAT top-1 drop in points (default 1.0)")
    p.add_argument("--workdir", default="runs/bench_accuracy", help="calibration cache and QAT checkpoints")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/accuracy_<model>.json)")
    p.add_argument("--device", default="cpu")
    add_number(p, "--workers", type=COUNT, default=0)
    add_number(p, "--threads", type=COUNT, default=0,
               help="torch CPU threads (0: torch's default); on a busy shared CPU, 1 can be several times faster")
    add_number(p, "--seed", type=SEED, default=0)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader, Subset

    from calib.sampler import draw_calibration_set
    from edge_swin.data import build_calibration_source, build_datasets
    from edge_swin.models import create_swin, model_config
    from edge_swin.quant import (QATConfig, QuantizationError, accuracy_report, calibrate, calibration_loader,
                                 check_accuracy_drop, format_quant_summary, format_report, qat_finetune, quant_summary)
    from edge_swin.quant.calibrate import data_fingerprint
    from edge_swin.quant.plot import plot_accuracy
    from edge_swin.utils.io import sha256_json, write_json

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    img_size = args.img_size or model_config(args.model)["img_size"]
    train_ds, val_ds = build_datasets(args.data, img_size)
    classes = list(getattr(train_ds, "classes", []))
    if not classes:
        raise QuantizationError("the training set has no `classes`: pass an ImageFolder tree with --data")
    if args.val_limit:
        val_ds = Subset(val_ds, draw_calibration_set(val_ds, args.val_limit, seed=args.seed).indices)
    workdir = Path(args.workdir)

    model = create_swin(args.model, pretrained=args.checkpoint, num_classes=len(classes), img_size=img_size)
    fp32_training = None
    if args.checkpoint is None and args.fp32_epochs > 0:
        from edge_swin.train import TrainConfig, train

        cfg = TrainConfig(epochs=args.fp32_epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                          num_workers=args.workers)
        fp32_training = train(model, train_ds, val_ds, cfg, workdir / f"fp32_{args.model}", resume=True).history
    elif args.checkpoint is None:
        print("warning: no --checkpoint and --fp32-epochs 0: the FP32 model has random weights, so the accuracies "
              "below only check the plumbing", file=sys.stderr)
    model.to(args.device).eval()

    teacher = model
    student = copy.deepcopy(model)
    calib_loader, calib_set = calibration_loader(build_calibration_source(args.data, img_size), args.calib_size, seed=args.calib_seed,
                                                 batch_size=args.batch_size, num_workers=args.workers)
    cal = calibrate(student, calib_loader, args.method, cache_dir=workdir / "calib", percentile=args.percentile,
                    calib_set=calib_set, device=args.device)
    print(("calibration restored from " if cal.from_cache else "calibrated, saved to ") + str(cal.path)
          + f" ({cal.seconds:.1f} s)")
    print(format_quant_summary(student))
    ptq = copy.deepcopy(student)

    order = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, generator=order,
                              num_workers=args.workers, drop_last=len(train_ds) > args.batch_size)
    qat_config = QATConfig(epochs=args.qat_epochs, lr=args.qat_lr, temperature=args.temperature, alpha=args.alpha,
                           max_steps_per_epoch=args.qat_steps, seed=args.seed, device=args.device)
    qat_dir = workdir / f"qat_{sha256_json([cal.key, data_fingerprint(train_loader)])[:16]}"
    qat = qat_finetune(student, teacher, train_loader, qat_config, checkpoint_dir=qat_dir) if args.qat_epochs > 0 else None

    val_loader = DataLoader(val_ds, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    report = accuracy_report(teacher, ptq, val_loader, qat=student if qat is not None else None,
                             max_drop=args.max_drop, device=args.device)
    print(format_report(report))

    import modelopt

    out = Path(args.out) if args.out else RESULTS / f"accuracy_{args.model}.json"
    record = {
        "report": report,
        "settings": {"model": args.model, "img_size": img_size, "checkpoint": args.checkpoint,
                     "fp32_epochs": args.fp32_epochs if args.checkpoint is None else 0,
                     "data": args.data or "embedded", "classes": len(classes), "val_images": len(val_ds),
                     "method": args.method, "percentile": args.percentile if args.method == "percentile" else None,
                     "qat": vars(qat_config) if qat is not None else None, "batch_size": args.batch_size,
                     "seed": args.seed, "device": args.device},
        "calibration": cal.manifest(),
        "quant_summary": quant_summary(student),
        "qat_history": qat.history if qat is not None else [],
        "fp32_training": fp32_training,
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {"torch": torch.__version__, "modelopt": modelopt.__version__, "python": platform.python_version()},
        "host": {"machine": platform.machine(), "processor": platform.processor() or None,
                 "cpu_threads": torch.get_num_threads()},
    }
    write_json(out, record)
    png = out.with_suffix(".png")
    plot_accuracy(report, f"{args.model} @ {img_size}px on {args.data or 'embedded'} ({report['n']} images)", png)
    print(f"wrote {out} and {png}")
    try:
        check_accuracy_drop(report)
    except QuantizationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from edge_swin.errors import EdgeSwinError

    try:
        return run(args)
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
