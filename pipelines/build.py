"""Build a deployable Swin: model -> train/fine-tune -> [QAT] -> [export] -> [engine] -> evaluate -> report.

    python -m pipelines.build --target jetson-orin
    python -m pipelines.build --target t4 --model swin_t --checkpoint swin_tiny.pth --data /data/myset
    torchrun --nproc_per_node 8 -m pipelines.build --target h100 --model swin_t --data /data/myset   # DDP
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from edge_swin.errors import DataError, EdgeSwinError, TargetError
from edge_swin.models import resolve_name
from edge_swin.models.input_size import input_size_problem
from edge_swin.utils import distributed
from edge_swin.train.mixing import SWIN_CUTMIX, SWIN_MIXUP
from edge_swin.train.precision import PRECISIONS
from edge_swin.trt import get_target, target_names
from edge_swin.utils.cli_numbers import (COUNT, FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, SEED,
                                        add_number)
from edge_swin.utils.io import write_error
from edge_swin.utils.progress import set_progress
from edge_swin.utils.run_lock import RunLock, describe

DEFAULT_MODEL = "swin_nano"
# The default run's recipe (embedded data, swin_nano): epochs sized so the whole pipeline fits in 10 minutes
# on 2 quiet x86 cores (README "What the default run does, measured"; benchmarks/results/default_run_*.json).
SCRATCH_EPOCHS = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="jetson-orin", metavar="NAME",
                   help=f"deployment target, one of: {', '.join(target_names())} (default: %(default)s)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help="Swin variant: a timm name such as swin_tiny_patch4_window7_224, or an alias "
                        "(swin_t, swin_s, swin_b, swin_l, swin_micro, swin_nano). Default %(default)s, the embedded demo model")
    p.add_argument("--checkpoint", type=Path, help="Microsoft .pth or timm .pth/.safetensors to start from (default: random init)")
    p.add_argument("--adapt-head", action="store_true",
                   help="the checkpoint's classifier has another class count: start a fresh head for --data's classes")
    p.add_argument("--adapt-window", action="store_true",
                   help="the checkpoint was trained with another window (e.g. 7 at 224, now --window-size 12 at 384): "
                        "interpolate its relative-position tables")
    p.add_argument("--data", help="ImageFolder root with train/ and val/ (default: the embedded Fashion-MNIST)")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="train without the images of --data that cannot be decoded (every image is checked once "
                        "before training; by default an unreadable one stops the run with the list)")
    add_number(p, "--img-size", type=POSITIVE_INT,
               help="input resolution (default: the variant's); it must give whole windows at every stage: a size "
                    "that does not is refused with the nearest ones that do")
    add_number(p, "--window-size", type=POSITIVE_INT, help="attention window (default: the variant's)")
    add_number(p, "--epochs", type=COUNT,
               help=f"training epochs (default: {SCRATCH_EPOCHS} from scratch, 0 with --checkpoint: use it as it is)")
    add_number(p, "--qat-epochs", type=COUNT, default=1,
               help="INT8 QAT epochs of distillation from the FP32 model; 0 keeps the calibrated PTQ model (default: %(default)s)")
    add_number(p, "--qat-steps", type=COUNT, default=100,
               help="at most this many QAT steps per epoch; 0 = whole epochs (default: %(default)s)")
    add_number(p, "--qat-lr", type=POSITIVE, default=1e-5, help="QAT learning rate (default: %(default)s)")
    add_number(p, "--calib-size", type=POSITIVE_INT, default=512,
               help="calibration images, drawn class-balanced from the training split (default: %(default)s)")
    p.add_argument("--calib-method", default="max", choices=["max", "percentile", "entropy"],
                   help="activation calibrator (default: %(default)s)")
    p.add_argument("--quant-recipe", metavar="NAME",
                   help="quantization recipe of edge_swin/quant/config.py RECIPES: swin_int8 (INT8) or swin_fp8 (FP8 "
                        "E4M3, GPUs with FP8: l4, h100, jetson-thor, rtx). Default: the target's default low "
                        "precision, FP8 where its GPU has it (jetson-thor, l4, h100), else INT8")
    add_number(p, "--max-drop", type=NON_NEGATIVE, default=1.0,
               help="fail when INT8 top-1 is more than this many points below FP32 (default: %(default)s)")
    add_number(p, "--batch-size", type=POSITIVE_INT, default=128,
               help="global batch size of training and QAT, whatever the number of torchrun processes: each "
                    "process takes batch/processes/accum-steps images a pass (default: %(default)s)")
    add_number(p, "--accum-steps", type=POSITIVE_INT, default=1,
               help="gradient accumulation in training: passes per optimiser step, for a global batch larger "
                    "than memory allows (QAT's short distillation takes its batch in one pass) (default: %(default)s)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="training and QAT arithmetic: auto = bf16 on GPUs that have it, fp16 with gradient scaling "
                        "on older GPUs, fp32 on a CPU (default: %(default)s)")
    add_number(p, "--drop-path", type=FRACTION,
               help="stochastic depth rate (default: the variant's; Swin's fine-tuning recipe: 0.1-0.2 for T/S, "
                    "0.2-0.5 for B/L)")
    add_number(p, "--mixup", type=NON_NEGATIVE, default=0.0,
               help=f"Mixup alpha, 0 = off (Swin's fine-tuning recipe: {SWIN_MIXUP}) (default: %(default)s)")
    add_number(p, "--cutmix", type=NON_NEGATIVE, default=0.0,
               help=f"CutMix alpha, 0 = off (Swin's recipe: {SWIN_CUTMIX}; with --mixup too, one of the two per "
                    "batch) (default: %(default)s)")
    add_number(p, "--lr", type=POSITIVE, help="peak learning rate (default: 1.5e-3 from scratch, 1e-4 fine-tuning)")
    add_number(p, "--weight-decay", type=NON_NEGATIVE, default=0.05, help="AdamW weight decay (default: %(default)s)")
    add_number(p, "--warmup-epochs", type=NON_NEGATIVE, default=0.5, help="linear warm-up before the cosine (default: %(default)s)")
    add_number(p, "--label-smoothing", type=FRACTION, default=0.1, help="(default: %(default)s)")
    add_number(p, "--seed", type=SEED, default=0, help="seed for init, data order and augmentation (default: %(default)s)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s: cuda when present)")
    add_number(p, "--num-workers", type=COUNT, default=0,
               help="data-loading processes for image folders; the embedded data needs none (default: %(default)s)")
    add_number(p, "--threads", type=POSITIVE_INT,
               help="CPU threads torch may use (default: torch's, one per core); 1 runs better on a machine "
                    "other jobs share")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars even on a terminal (elsewhere, e.g. a log file, there are none anyway: "
                        "one line per epoch and stage)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training run from its last finished epoch")
    p.add_argument("--no-custom-op", action="store_true",
                   help="export the plain graph (window attention inlined, no SwinWindowAttention nodes) for comparison")
    p.add_argument("--dla", action="store_true",
                   help="Jetson targets with a DLA (jetson-orin): INT8 layers the DLA can run go to DLA core 0, the rest "
                        "to the GPU (used where the engine is built on the device)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<model>-<data>)")
    p.add_argument("--stop-after", choices=["model", "train", "qat"],
                   help="end the run after this stage (e.g. train and QAT on a GPU cluster, export and build elsewhere)")
    args = p.parse_args(argv)  # every number is checked against its range here (edge_swin.utils.cli_numbers)
    for flag in ("adapt_head", "adapt_window"):
        if getattr(args, flag) and args.checkpoint is None:
            p.error(f"--{flag.replace('_', '-')} adapts a checkpoint to this run: give --checkpoint too (without one "
                    "the model starts from random weights, already shaped for --data's classes and the window)")
    if args.img_size is not None or args.window_size is not None:
        try:
            problem = input_size_problem(args.model, args.img_size, args.window_size)
        except EdgeSwinError:
            problem = None  # an unknown --model: run() names the known ones
        if problem:
            p.error(f"--img-size/--window-size: {problem}")
    args.command_line = "python -m pipelines.build " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if distributed.launched():
        # torchrun stops the other processes with SIGTERM when one fails: say once what is kept and how to go on.
        signal.signal(signal.SIGTERM, _stopped_by_launcher)
    try:
        run(args)
    except distributed.PeerFailed:
        distributed.barrier()  # exit after rank 0 has written its report and said why: torchrun stops it otherwise
        return 2
    except distributed.PeerLost as err:
        if distributed.is_main():  # one message, from rank 0 (if it is the one that died, torchrun names it)
            print(f"error: {err}", file=sys.stderr, flush=True)
        os._exit(2)  # no group teardown: it would wait on the dead peer until torchrun kills this process
    except EdgeSwinError as err:
        rank = f"rank {distributed.rank()}: " if not distributed.is_main() else ""
        print(f"{rank}error: {err}", file=sys.stderr, flush=True)
        if getattr(err, "peers_told", False):
            distributed.barrier()  # the other ranks wait there (PeerFailed) until this message is out
        return 2
    except OSError as err:  # a write the library did not wrap: still one line naming the path and the cause
        translated = write_error(err.filename or "", err)
        if translated is None:
            raise
        print(f"error: {translated}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished stages are kept; rerun with --resume to continue training from its last "
              "finished epoch", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
    return 0


def _stopped_by_launcher(signum, frame) -> None:
    if distributed.is_main():
        print("error: stopped: another torchrun process failed (torchrun's report below names it). Finished stages "
              "and the last complete epoch checkpoint are kept: rerun the same command with --resume, on any number "
              "of processes.", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> dict:
    from pipelines.stages.context import RunContext

    target = get_target(args.target)  # fail on a bad target before any work
    set_progress(not args.no_progress)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.dla and target.dla != "optional":
        raise TargetError(f"--dla: target {target.name} has no DLA (dla = {target.dla!r} in edge_swin/trt/targets.toml)")
    if target.build_on in ("cpu", "gpu"):  # an engine this host cannot build fails now, not after training
        from edge_swin.trt.builder import check_build_host

        check_build_host(target)
    quant_format = _quant_choice(args, target)  # a typo or FP8 on Orin fails now, not after training
    variant = resolve_name(args.model)
    data_name = Path(args.data).name if args.data else "fashion-mnist"
    out_dir = args.out or Path("runs") / f"{variant}-{data_name}"
    ctx = RunContext(args, target, out_dir)
    ctx.quant_format = quant_format
    ctx.epochs = args.epochs if args.epochs is not None else (0 if args.checkpoint else SCRATCH_EPOCHS)
    ctx.lr = args.lr or (1e-4 if args.checkpoint else 1.5e-3)
    ctx.device = distributed.init(ctx.device)  # under torchrun: join the group, one device a process
    parts = distributed.world_size() * args.accum_steps
    if args.batch_size % parts:
        raise EdgeSwinError(f"--batch-size {args.batch_size} is the global batch: it must split into "
                            f"{distributed.world_size()} process(es) x {args.accum_steps} accumulation step(s); "
                            f"choose a multiple of {parts}")
    world = f", {distributed.world_size()} processes" if distributed.active() else ""
    print(f"edge-swin: {variant} for {target.name} ({target.description}) -> {out_dir}{world}")
    lock = RunLock(out_dir, args.command_line)  # one run at a time in a run folder (rank 0 holds it for all)
    distributed.on_main(lambda: _take(lock))
    try:
        _ = ctx.datasets  # a bad --data (layout, unreadable images) fails here, before any stage writes
        if len(ctx.classes) < 2:  # one class: every prediction is right, and the report would say "100%"
            raise DataError(f"--data {args.data} has {len(ctx.classes)} class folder ({', '.join(ctx.classes)}): a "
                            "classifier needs two or more classes, one sub-folder each under train/ and val/")
        return _stages(ctx)
    finally:
        lock.release()


def _take(lock: RunLock) -> None:
    lock.acquire()
    if lock.took_over:
        print(f"[run] took over the lock of a run that is no longer running ({describe(lock.took_over)})")


def _stages(ctx) -> dict:
    from pipelines.stages import engine, evaluate, export, model, qat, report, train

    args = ctx.args
    try:
        distributed.on_main(lambda: model.run(ctx))  # rank 0 writes the starting weights ...
        if not distributed.is_main():
            model.run(ctx)  # ... the others read them
        if args.stop_after == "model":
            return _stopped(ctx, report)
        train.run(ctx)
        if args.stop_after == "train":
            return _stopped(ctx, report)
        qat.run(ctx)
        if not distributed.is_main():
            return ctx.stages  # export, engines, evaluation and the report: rank 0 alone
        if args.stop_after == "qat":
            return _stopped(ctx, report)
        distributed.shutdown()  # the other ranks are done; rank 0 needs no group any more
        export.run(ctx)
        engine.run(ctx)
        evaluate.run(ctx)
    except EdgeSwinError:
        if distributed.is_main():
            _report_failure(ctx, report)  # e.g. the numbers that failed the INT8 check stay readable in report.md
        raise
    return report.run(ctx)


def _quant_choice(args: argparse.Namespace, target) -> str:
    """The run's quantized format ("int8" / "fp8"): --quant-recipe's, else the target's default low precision;
    sets args.quant_recipe to the recipe's name. TargetError where the target cannot run it (FP8 on Orin)."""
    if args.quant_recipe is None and target.default_low_precision == "int8":
        args.quant_recipe = "swin_int8"  # the common case needs no modelopt import here
        return "int8"
    from edge_swin.quant.config import RECIPE_FOR_FORMAT, get_recipe

    if args.quant_recipe is None:
        args.quant_recipe = RECIPE_FOR_FORMAT[target.default_low_precision]
    recipe = get_recipe(args.quant_recipe)
    target.check_low_precision(recipe.format, asked_by=f"--quant-recipe {recipe.name}")
    recipe.config(args.calib_method)  # a calibrator the recipe cannot use (FP8 + percentile) fails now too
    return recipe.format


def _stopped(ctx, report) -> dict:
    """--stop-after: a report an earlier run left is rewritten, so that it describes the folder as it now is."""
    if distributed.is_main() and (ctx.out_dir / "report.md").is_file():
        report.run(ctx)
    return ctx.stages


def _report_failure(ctx, report) -> None:
    """report.md of a failed run: what finished, what is stale; a report that cannot be written (full disk)
    leaves the "not current" one in place and the run's own error is what the user sees."""
    try:
        report.run(ctx)
    except Exception:  # noqa: BLE001 (the run's own error is the one to print, never one from its report)
        pass


if __name__ == "__main__":
    sys.exit(main())
