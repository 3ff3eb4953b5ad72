"""Validation under torch.distributed: every rank scores its share of the images once, the counts are summed."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset

from edge_swin.eval.metrics import evaluate, predict, topk_correct
from edge_swin.train import distributed


def evaluate_sharded(model: nn.Module, dataset, batch_size: int, device: str = "cpu", num_workers: int = 0,
                     desc: str = "evaluate") -> dict:
    """`evaluate`'s numbers over `dataset`; with W ranks, rank r scores images r, r + W, ... (each image once).

    `model` must be the plain module, not its DistributedDataParallel wrapper
    (ranks run different batch counts here, and DDP's forward would wait for a
    matching call on every rank).
    """
    world, rank = distributed.world_size(), distributed.rank()
    if world == 1:
        return evaluate(model, DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers),
                        device, desc)
    shard = Subset(dataset, range(rank, len(dataset), world))
    counts = [0.0, 0.0, 0.0, 0.0]  # top-1 hits, top-5 hits, summed loss, images
    if len(shard):
        logits, targets = predict(model, DataLoader(shard, batch_size=batch_size, num_workers=num_workers), device, desc)
        correct = topk_correct(logits, targets, (1, 5))
        loss = nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        counts = [correct[1], correct[5], loss, len(targets)]
    top1, top5, loss_sum, n = distributed.all_reduce_sum(counts, device)
    n = max(n, 1.0)
    return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "loss": loss_sum / n, "n": int(n)}
