"""Classify images with a run's model on a GPU without TensorRT: edge_swin.runtime (our kernels as PyTorch ops).

    python examples/python/runtime_classify.py runs/<name>/qat/int8.pth photo.jpg             # INT8 (QAT scales)
    python examples/python/runtime_classify.py runs/<name>/train/model.pth photo.jpg --fp16   # FP16

Needs a CUDA GPU with PyTorch and Triton (no TensorRT). --crop-pct: 1.0 for a model trained on the embedded
dataset (the default run), 0.875 for one trained on an image folder (what the run's engine sidecar says).
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from PIL import Image

from edge_swin.data.transforms import eval_transform
from edge_swin.errors import EdgeSwinError
from edge_swin.runtime import convert


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a run's qat/int8.pth (INT8) or train/model.pth (with --fp16)")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--fp16", action="store_true", help="FP16 from the float weights (default: INT8 from QAT)")
    p.add_argument("--crop-pct", type=float, default=1.0)
    args = p.parse_args(argv)
    try:  # convert checks the GPU and the checkpoint; torch.compile + CUDA graphs where there is a GPU
        model = convert(args.checkpoint, "fp16" if args.fp16 else "int8", compile=torch.cuda.is_available())
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = args.checkpoint.parent.parent / "report.json"  # runs/<name>/report.json names the classes
    classes = json.loads(report.read_text())["classes"] if report.is_file() else None
    transform = eval_transform(model.img_size, args.crop_pct)
    batch = torch.stack([transform(Image.open(path).convert("RGB")) for path in args.images])
    with torch.inference_mode():
        probs = model(batch.to("cuda" if torch.cuda.is_available() else "cpu")).softmax(dim=1).cpu()
    for path, row in zip(args.images, probs):
        k = int(row.argmax())
        print(f"{path}: {classes[k] if classes else k} {100 * float(row[k]):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
