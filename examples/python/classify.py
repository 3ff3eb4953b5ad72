"""Classify images with an edge-swin engine: top-5 with class names.

    python examples/python/classify.py runs/<name>/engine/model_int8.engine photo.jpg
    python examples/python/classify.py runs/<name>/engine/model_int8_plugin.engine images/ --top 3

What an application needs, all in the engine's sidecar (<engine>.json): the image transform the model was
trained with ("preprocess"), the class names ("classes"; else the run's report.json), and, for a plugin
engine, the plugin library (loaded before the engine is deserialised). edge_swin.trt.runtime checks the
sidecar against this machine (GPU, TensorRT release, plugin library) and refuses with the fix otherwise.
Needs a CUDA GPU and the TensorRT (or TensorRT-RTX) that built the engine.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.errors import EdgeSwinError  # noqa: E402  (after the sys.path line above)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("engine", type=Path, help="an .engine built by edge-swin (its .json sidecar beside it)")
    p.add_argument("images", type=Path, help="an image file, or a folder searched recursively")
    p.add_argument("--top", type=int, default=5, help="how many classes to print per image (default: %(default)s)")
    p.add_argument("--plugin-library", type=Path, help="the plugin library (default: the one the sidecar names)")
    p.add_argument("--report", type=Path,
                   help="the run's report.json, for class names when the sidecar has none (default: ../report.json)")
    return p.parse_args(argv)


def find_images(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            return found
        raise EdgeSwinError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {path}")
    raise EdgeSwinError(f"image path not found: {path}")


def class_names(metadata: dict, engine: Path, report: Path | None) -> list[str] | None:
    if metadata.get("classes"):
        return list(metadata["classes"])
    report = report or engine.parent.parent / "report.json"
    if report.is_file():
        return json.loads(report.read_text()).get("classes")
    return None


def transform_for(preprocess: dict | None):
    """The run's eval transform (resize, center crop, normalise) from the sidecar's numbers."""
    from edge_swin.data.transforms import eval_transform

    if not preprocess:
        raise EdgeSwinError("the engine's sidecar has no 'preprocess' entry: rebuild it with the pipeline's engine stage")
    return eval_transform(preprocess["img_size"], preprocess["crop_pct"], preprocess["mean"], preprocess["std"])


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
        from PIL import Image

        from edge_swin.trt.metadata import read_metadata
        from edge_swin.trt.runtime import EngineRunner

        images = find_images(args.images)
        metadata = read_metadata(args.engine)
        names = class_names(metadata, args.engine, args.report)
        transform = transform_for(metadata.get("preprocess"))
        runner = EngineRunner(args.engine, plugin_library=args.plugin_library)  # checks GPU, TensorRT, plugin
        for start in range(0, len(images), runner.max_batch):
            chunk = images[start:start + runner.max_batch]
            batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in chunk])
            probs = runner(batch).softmax(dim=1).cpu()
            top = probs.topk(min(args.top, probs.shape[1]), dim=1)
            for path, p, i in zip(chunk, top.values, top.indices):
                ranked = ", ".join(f"{names[k] if names else k} {100 * v:.1f}%" for v, k in zip(p.tolist(), i.tolist()))
                print(f"{path}: {ranked}")
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
