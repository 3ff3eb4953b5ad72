"""Training images/s per precision, on one process or many (torchrun): the trainer's own code path, timed.

    python benchmarks/train_throughput.py --arch swin_t --batch 128 --precisions fp32,bf16        # one GPU
    torchrun --nproc_per_node 8 benchmarks/train_throughput.py --arch swin_t --batch 1024          # 8 GPUs, global batch
    python benchmarks/train_throughput.py --arch swin_nano --device cpu --steps 2 --batch 8       # plumbing only

Runs `edge_swin.train.train` for two epochs of --steps optimiser steps each on synthetic images (a
fixed pool of random tensors: the model and optimiser's speed, not a decoder's) and reports the
second epoch's images/s (the first is the warm-up: allocator, cuDNN/cuBLAS heuristics). Under
torchrun the number is the global rate, all processes together. Writes
benchmarks/results/train_throughput_<device>.json (or --out) from rank 0.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from edge_swin.models import create_swin, model_config  # noqa: E402
from edge_swin.train import TrainConfig, train  # noqa: E402
from edge_swin.utils import distributed  # noqa: E402
from edge_swin.train.precision import resolve_precision  # noqa: E402
from edge_swin.utils.io import write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
POOL = 64  # distinct random images, reused


class SyntheticImages(Dataset):
    def __init__(self, n: int, img_size: int, num_classes: int):
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(POOL, 3, img_size, img_size, generator=gen)
        self.n, self.classes = n, [f"c{i}" for i in range(num_classes)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.images[i % POOL], i % len(self.classes)


def measure(arch: str, precision: str, batch: int, steps: int, device: str, num_workers: int) -> dict:
    img_size, num_classes = int(model_config(arch)["img_size"]), 1000 if arch not in ("swin_nano", "swin_micro") else 10
    torch.manual_seed(0)
    model = create_swin(arch, num_classes=num_classes)
    config = TrainConfig(epochs=2, batch_size=batch, lr=1e-4, warmup_epochs=0.0, device=device, precision=precision,
                         num_workers=num_workers)
    data = SyntheticImages(batch * steps, img_size, num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(model, data, SyntheticImages(distributed.world_size(), img_size, num_classes), config, tmp)
    return {"precision": result.final["precision"], "images_per_second": result.final["images_per_second"],
            "train_seconds": result.final["train_seconds"], "steps": steps, "global_batch": batch}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="swin_t", help="Swin variant (default: %(default)s)")
    p.add_argument("--batch", type=int, default=128, help="global batch (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed optimiser steps (default: %(default)s)")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated (default: %(default)s)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--num-workers", type=int, default=4 if torch.cuda.is_available() else 0)
    p.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/train_throughput_<device>.json)")
    args = p.parse_args(argv)
    device = distributed.init(args.device)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    rows = []
    for precision in args.precisions.split(","):
        resolve_precision(precision, device)  # a precision this device cannot run fails before any timing
        rows.append(measure(args.arch, precision, args.batch, args.steps, device, args.num_workers))
        print(f"{args.arch} {precision}: {rows[-1]['images_per_second']:,.1f} images/s "
              f"({distributed.world_size()} process(es), global batch {args.batch})")
    if distributed.is_main():
        out = args.out or RESULTS / f"train_throughput_{name.replace(' ', '_')}.json"
        write_json(out, {"arch": args.arch, "device": name, "processes": distributed.world_size(),
                         "torch": torch.__version__, "results": rows})
        print(f"wrote {out}")
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
