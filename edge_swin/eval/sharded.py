"""Validation under torch.distributed: every rank scores its share of the images once, the counts are summed."""
from __future__ import annotations

import torch
import torch.nn as nn

from edge_swin.data.batches import data_loader, index_loader
from edge_swin.eval.metrics import evaluate, predict, topk_correct
from edge_swin.utils import distributed


def evaluate_sharded(model: nn.Module, dataset, batch_size: int, device: str = "cpu", num_workers: int = 0,
                     desc: str = "evaluate") -> dict:
    """`evaluate`'s numbers over `dataset`; with W ranks, rank r scores images r, r + W, ... (each image once).

    `model` must be the plain module, not its DistributedDataParallel wrapper
    (ranks run different batch counts here, and DDP's forward would wait for a
    matching call on every rank). In-memory data with a batch recipe is served
    as whole batches (`edge_swin.data.batches`).
    """
    world, rank = distributed.world_size(), distributed.rank()
    if world == 1:
        return evaluate(model, data_loader(dataset, batch_size, num_workers=num_workers), device, desc)
    shard = list(range(rank, len(dataset), world))
    counts = [0.0, 0.0, 0.0, 0.0]  # top-1 hits, top-5 hits, summed loss, images
    if len(shard):
        logits, targets = predict(model, index_loader(dataset, _chunks(shard, batch_size), num_workers), device, desc)
        correct = topk_correct(logits, targets, (1, 5))
        loss = nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        counts = [correct[1], correct[5], loss, len(targets)]
    top1, top5, loss_sum, n = distributed.all_reduce_sum(counts, device)
    n = max(n, 1.0)
    return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "loss": loss_sum / n, "n": int(n)}


class _chunks:
    """A batch sampler: `indices` in consecutive lists of `size`."""

    def __init__(self, indices: list[int], size: int):
        self.indices, self.size = indices, size

    def __iter__(self):
        return (self.indices[i:i + self.size] for i in range(0, len(self.indices), self.size))

    def __len__(self) -> int:
        return -(-len(self.indices) // self.size)
