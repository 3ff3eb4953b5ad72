"""Accuracy against training minutes of default runs (embedded Fashion-MNIST, swin_nano): JSON plus a plot.

    python benchmarks/train_curve.py --measure --run 7-epochs=runs/swin_nano_patch4_window4_32-fashion-mnist
    python benchmarks/train_curve.py --throughput 1077 --eval-throughput 3300 --run 8-epochs-stopped=/tmp/history.json

Per epoch each run's history gives the validation top-1 on the 10,000 test
images and the training images/s it measured (wall clock: on a shared machine
that number says how busy the machine was, not what the code can do). The
minutes a quiet machine needs are estimated as epochs x (60,000 training images
/ training throughput + 10,000 validation images / evaluation throughput), the
throughputs measured by --measure here (steps of the default model and recipe
on the whole-batch data path, torch's default threads) or given. The JSON keeps
what was measured apart from what was estimated. A run folder also gives its
QAT drop and its top-1 per backend.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
TRAIN_IMAGES, VAL_IMAGES = 60_000, 10_000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, metavar="LABEL=PATH",
                   help="a run folder (runs/<name>) or a train history.json; repeat for several runs")
    p.add_argument("--measure", action="store_true", help="time training and evaluation steps here for the estimate")
    p.add_argument("--throughput", type=float, help="training images/s of a quiet machine (instead of --measure)")
    p.add_argument("--eval-throughput", type=float, help="evaluation images/s of a quiet machine (instead of --measure)")
    p.add_argument("--note", default="", help="what the reader must know about the machine(s) the runs shared")
    p.add_argument("--out", type=Path, default=RESULTS / "default_run_curve.json")
    args = p.parse_args(argv)
    if not args.measure and not (args.throughput and args.eval_throughput):
        p.error("give --measure, or both --throughput and --eval-throughput")
    return args


def measure_throughput(steps: int = 30, batch_size: int = 128) -> dict:
    """Images/s of the default model's training step and of its evaluation forward, on the whole-batch data path."""
    import torch
    import torch.nn as nn

    from edge_swin.data import build_datasets, data_loader
    from edge_swin.models import create_swin
    from edge_swin.train.optim import create_optimizer

    from pipelines.build import DEFAULT_MODEL

    load_before = os.getloadavg()
    train_set, val_set = build_datasets(None, 32)
    torch.manual_seed(0)
    model = create_swin(DEFAULT_MODEL, num_classes=10)
    optimizer = create_optimizer(model, 1.5e-3)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    batches = iter(data_loader(train_set, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)))
    model.train()
    for step in range(steps + 3):  # 3 warm-up steps
        if step == 3:
            tic = time.perf_counter()
        images, labels = next(batches)
        loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    train_rate = steps * batch_size / (time.perf_counter() - tic)
    model.eval()
    seen, tic = 0, time.perf_counter()
    with torch.no_grad():
        for images, _ in data_loader(val_set, 2 * batch_size):
            model(images)
            seen += len(images)
            if seen >= 5_000:
                break
    eval_rate = seen / (time.perf_counter() - tic)
    return {"train_images_per_second": round(train_rate, 1), "eval_images_per_second": round(eval_rate, 1),
            "threads": torch.get_num_threads(), "steps": steps, "batch_size": batch_size,
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]}


def read_run(path: Path) -> dict:
    """{"history": [...], and for a run folder "qat" and "evaluate" numbers when those stages finished}."""
    if path.is_dir():
        run = {"history": json.loads((path / "train" / "history.json").read_text())}
        for stage in ("qat", "evaluate"):
            manifest = path / stage / "manifest.json"
            if manifest.is_file():
                run[stage] = json.loads(manifest.read_text())["numbers"]
        return run
    return {"history": json.loads(path.read_text())}


def curve(history: list[dict], train_rate: float, eval_rate: float) -> list[dict]:
    epoch_minutes = (TRAIN_IMAGES / train_rate + VAL_IMAGES / eval_rate) / 60
    return [{"epoch": h["epoch"], "val_top1": h["val_top1"], "val_top5": h["val_top5"],
             "measured_train_seconds": h["train_seconds"], "measured_images_per_second": h["images_per_second"],
             "estimated_quiet_minutes": round(h["epoch"] * epoch_minutes, 2)} for h in history]


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, run in result["runs"].items():
        points = run["points"]
        ax.plot([p["estimated_quiet_minutes"] for p in points], [p["val_top1"] for p in points], "o-", label=label)
    ax.axhline(90, color="grey", linestyle=":", label="90% goal")
    ax.set_xlabel("training minutes on 2 quiet cores (estimated from measured throughput)")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("swin_nano on Fashion-MNIST: top-1 after each epoch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    rates = measure_throughput() if args.measure else {"train_images_per_second": args.throughput,
                                                        "eval_images_per_second": args.eval_throughput,
                                                        "source": "given on the command line"}
    runs = {}
    for item in args.run:
        label, _, path = item.partition("=")
        run = read_run(Path(path))
        runs[label] = {"source": path, "points": curve(run["history"], rates["train_images_per_second"],
                                                        rates["eval_images_per_second"]),
                       **{k: run[k] for k in ("qat", "evaluate") if k in run}}
    result = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.machine(),
              "cpus": os.cpu_count(), "throughput": rates, "note": args.note, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    chart = plot(result, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
