"""Started by torchrun in tests/train/test_distributed.py: train swin_nano on the shared small set, data-parallel.

    torchrun --standalone --nproc_per_node 2 tests/train/ddp_worker.py OUT [--kill-rank R] [--resume] [--in-memory]

Rank 0 writes OUT/final.pth (the trained weights). With --kill-rank R, rank R
kills itself (SIGKILL) in the second epoch's second step, as a crashed node would.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout under test, before any installed copy

from edge_swin.utils import distributed  # noqa: E402
from edge_swin.train import train  # noqa: E402
from tests.train.ddp_cases import CONFIG, datasets, fresh_model  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--kill-rank", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--in-memory", action="store_true", help="the whole-batch path (ddp_cases.datasets(in_memory=True))")
    args = p.parse_args()
    torch.set_num_threads(1)
    distributed.init("cpu")

    def on_step(epoch: int, step: int) -> None:
        if distributed.rank() == args.kill_rank and epoch == 1 and step == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    model = fresh_model()
    train_set, val_set = datasets(args.in_memory)
    result = train(model, train_set, val_set, CONFIG, args.out, resume=args.resume, on_step=on_step)
    if distributed.is_main():
        torch.save({"model": model.state_dict(), "history": result.history}, args.out / "final.pth")
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
