"""Classify images with an edge-swin engine: top-5 with class names.

    python examples/python/classify.py runs/<name>/engine/model_int8.engine photo.jpg
    python examples/python/classify.py runs/<name>/engine/model_int8_plugin.engine images/ --top 3

What an application needs, all in the engine's sidecar (<engine>.json): the image transform the model was
trained with ("preprocess"), the class names ("classes"; else the run's report.json), and, for a plugin
engine, the plugin library (loaded before the engine is deserialised). edge_swin.trt.runtime checks the
sidecar against this machine (GPU, TensorRT release, plugin library) and against the engine's own tensors
(image size, dtypes, class count), and refuses with the fix otherwise. An image that cannot be read
(damaged, an unknown format, pixels with no 8-bit scale, over Pillow's decompression-bomb limit) is named
and skipped; the others are classified and the exit status is 1.
Needs a CUDA GPU and the TensorRT (or TensorRT-RTX) that built the engine.

Two runtimes, the same numbers: `--runtime numpy` needs only tensorrt + numpy + Pillow + pycuda (or
cuda-python), what a Jetson has without a version-matched torch (edge_swin.trt.numpy_runtime);
`--runtime torch` keeps the buffers as torch CUDA tensors (edge_swin.trt.runtime). The default, auto,
takes torch where it is installed, else numpy. The torch-free path never imports torch.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.errors import EdgeSwinError  # noqa: E402  (after the sys.path line above)
from edge_swin.utils.cli_numbers import POSITIVE_INT, add_number  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("engine", type=Path, help="an .engine built by edge-swin (its .json sidecar beside it)")
    p.add_argument("images", type=Path, help="an image file, or a folder searched recursively")
    add_number(p, "--top", type=POSITIVE_INT, default=5, help="how many classes to print per image (default: %(default)s)")
    p.add_argument("--plugin-library", type=Path, help="the plugin library (default: the one the sidecar names)")
    p.add_argument("--runtime", choices=("auto", "numpy", "torch"), default="auto",
                   help="numpy: tensorrt + numpy + pycuda/cuda-python only; torch: torch CUDA tensors; "
                        "auto: torch where it is installed, else numpy (default: %(default)s)")
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


def class_names(metadata: dict, engine: Path, report: Path | None, outputs: int | None = None) -> list[str] | None:
    """The sidecar's class names (the runner checked their count), else the run's report.json's, whose count
    must match the engine's `outputs` logits."""
    if metadata.get("classes"):
        return list(metadata["classes"])
    report = report or engine.parent.parent / "report.json"
    if not report.is_file():
        return None
    try:
        names = json.loads(report.read_text()).get("classes")
    except (ValueError, AttributeError) as err:
        raise EdgeSwinError(f"{report} is not a run's report.json ({err}): pass the right one with --report") from None
    if names and outputs not in (None, -1) and len(names) != outputs:
        raise EdgeSwinError(f"{report} lists {len(names)} classes but {engine.name} outputs {outputs} logits: it is "
                            "another run's report; pass the report of the run that built this engine with --report")
    return names


def runtime_for(choice: str) -> str:
    """The runtime `--runtime auto` means here: torch where it is installed (found, not imported), else numpy."""
    if choice != "auto":
        return choice
    try:
        return "torch" if importlib.util.find_spec("torch") is not None else "numpy"
    except (ImportError, ValueError):  # a blocked or broken torch install: the torch-free path
        return "numpy"


def make_runner(runtime: str, engine: Path, plugin_library: Path | None):
    """A callable numpy [B, 3, H, W] -> numpy logits [B, classes], its largest batch per launch, its class count."""
    if runtime == "numpy":
        from edge_swin.trt.numpy_runtime import NumpyEngineRunner

        runner = NumpyEngineRunner(engine, plugin_library=plugin_library)  # checks GPU, TensorRT, plugin, tensors
        return runner, runner.max_batch, runner.num_classes
    try:
        import torch
    except ImportError as err:
        raise EdgeSwinError(f"--runtime torch needs torch ({err}): install it, or use --runtime numpy "
                            "(tensorrt + numpy + pycuda or cuda-python)") from None

    from edge_swin.trt.runtime import EngineRunner

    runner = EngineRunner(engine, plugin_library=plugin_library)  # checks GPU, TensorRT, plugin, tensors
    return (lambda batch: runner(torch.from_numpy(batch)).cpu().numpy()), runner.max_batch, runner.num_classes


def softmax(logits):
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import numpy as np

        from edge_swin.trt.metadata import read_metadata
        from edge_swin.trt.preprocess import SidecarTransform
        from edge_swin.utils.rgb import load_rgb

        images = find_images(args.images)
        metadata = read_metadata(args.engine)
        transform = SidecarTransform(metadata.get("preprocess"))  # the run's eval transform, in numpy
        run, max_batch, outputs = make_runner(runtime_for(args.runtime), args.engine, args.plugin_library)
        names = class_names(metadata, args.engine, args.report, outputs)
        unreadable = 0
        for start in range(0, len(images), max_batch):
            chunk, arrays = [], []
            for path in images[start:start + max_batch]:
                try:
                    arrays.append(transform(load_rgb(str(path), refuse_bombs=True)))
                    chunk.append(path)
                except Exception as err:  # PIL has many ways to say "not a readable image": each one skips it
                    print(f"error: cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
                    unreadable += 1
            if not chunk:
                continue
            probs = softmax(run(np.stack(arrays)).astype(np.float64))
            top = np.argsort(-probs, axis=1, kind="stable")[:, :min(args.top, probs.shape[1])]
            for path, p, ranked_ids in zip(chunk, probs, top):
                ranked = ", ".join(f"{names[k] if names else k} {100 * p[k]:.1f}%" for k in ranked_ids.tolist())
                print(f"{path}: {ranked}")
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if unreadable else 0  # the readable images are classified; the exit status says some were not


if __name__ == "__main__":
    sys.exit(main())
