"""Classify images with a run's model on a GPU without TensorRT: edge_swin.runtime (our kernels as PyTorch ops).

    python examples/python/runtime_classify.py runs/<name>/qat/int8.pth photo.jpg             # INT8 (QAT scales)
    python examples/python/runtime_classify.py runs/<name>/train/model.pth photo.jpg --fp16   # FP16

Needs a CUDA GPU with PyTorch and Triton (no TensorRT). --crop-pct: 1.0 for a model trained on the embedded
dataset (the default run), 0.875 for one trained on an image folder (what the run's engine sidecar says).
An image that cannot be read (damaged, pixels with no 8-bit scale, over Pillow's decompression-bomb limit)
is named and skipped; the others are classified and the exit status is 1.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from edge_swin.data.transforms import eval_transform
from edge_swin.errors import EdgeSwinError
from edge_swin.runtime import convert
from edge_swin.utils.cli_numbers import Bounded, add_number
from edge_swin.utils.rgb import load_rgb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a run's qat/int8.pth (INT8) or train/model.pth (with --fp16)")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--fp16", action="store_true", help="FP16 from the float weights (default: INT8 from QAT)")
    add_number(p, "--crop-pct", type=Bounded(float, 0.0, 1.0, low_open=True), default=1.0)
    args = p.parse_args(argv)
    try:  # convert checks the GPU and the checkpoint; torch.compile + CUDA graphs where there is a GPU
        model = convert(args.checkpoint, "fp16" if args.fp16 else "int8", compile=torch.cuda.is_available())
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = args.checkpoint.parent.parent / "report.json"  # runs/<name>/report.json names the classes
    classes = json.loads(report.read_text())["classes"] if report.is_file() else None
    transform = eval_transform(model.img_size, args.crop_pct)
    paths, images = [], []
    for path in args.images:
        try:
            images.append(transform(load_rgb(str(path), refuse_bombs=True)))
            paths.append(path)
        except Exception as err:  # PIL has many ways to say "not a readable image": each one skips it
            print(f"error: cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
    if not images:
        return 1
    with torch.inference_mode():
        probs = model(torch.stack(images).to("cuda" if torch.cuda.is_available() else "cpu")).softmax(dim=1).cpu()
    if classes and len(classes) != probs.shape[1]:
        print(f"error: {report} lists {len(classes)} classes but the model outputs {probs.shape[1]}: it is another "
              "run's report", file=sys.stderr)
        return 2
    for path, row in zip(paths, probs):
        k = int(row.argmax())
        print(f"{path}: {classes[k] if classes else k} {100 * float(row[k]):.1f}%")
    return 1 if len(paths) < len(args.images) else 0


if __name__ == "__main__":
    sys.exit(main())
