"""One global batch whatever the world size: each optimiser step's images, split across ranks and accumulation steps.

An epoch's order is `torch.randperm(n)` seeded from (seed, epoch), the order
a one-process DataLoader with that generator draws. Step k's global batch is
images [k*B, (k+1)*B) of it (the last one smaller: exact epoch boundaries,
nothing dropped or repeated). It is cut into world * accum_steps near-equal
chunks; rank r's micro-batch a is chunk r * accum_steps + a. A chunk that
would be empty (a last batch smaller than world * accum_steps) borrows one
image with weight 0, so every rank still takes part in the gradient
all-reduce. Losses are summed per sample and divided by the global batch's
size (times the world size DDP divides by), so N processes compute the
gradient of the same mean loss one process does.

`SeededSamples` draws each image's random augmentation from (seed, epoch,
index), whichever rank or worker loads it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class MicroBatch:
    indices: list[int]
    real: int  # how many of `indices` count (0 for a borrowed image)


class GlobalBatches:
    def __init__(self, num_samples: int, batch_size: int, seed: int, world_size: int = 1, rank: int = 0,
                 accum_steps: int = 1):
        if num_samples <= 0:
            raise ValueError("the training set is empty")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.world_size, self.rank, self.accum_steps = world_size, rank, accum_steps
        self.order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))

    def __len__(self) -> int:
        """Optimiser steps in the epoch."""
        return -(-self.num_samples // self.batch_size)

    def global_batch(self, step: int) -> torch.Tensor:
        return self.order[step * self.batch_size:(step + 1) * self.batch_size]

    def global_count(self, step: int) -> int:
        return len(self.global_batch(step))

    def micro_batches(self, step: int) -> list[MicroBatch]:
        """This rank's accum_steps micro-batches of `step`."""
        batch = self.global_batch(step)
        chunks = torch.tensor_split(batch, self.world_size * self.accum_steps)
        mine = chunks[self.rank * self.accum_steps:(self.rank + 1) * self.accum_steps]
        return [MicroBatch(c.tolist(), len(c)) if len(c) else MicroBatch(batch[:1].tolist(), 0) for c in mine]

    def schedule(self) -> list[MicroBatch]:
        """Every micro-batch of this rank in the epoch, in order (step-major)."""
        return [mb for step in range(len(self)) for mb in self.micro_batches(step)]


class IndexBatches:
    """A DataLoader `batch_sampler` over a list of MicroBatches."""

    def __init__(self, micro_batches: list[MicroBatch]):
        self.micro_batches = micro_batches

    def __iter__(self):
        return (mb.indices for mb in self.micro_batches)

    def __len__(self) -> int:
        return len(self.micro_batches)


class RankBatches:
    """A DataLoader `batch_sampler` yielding this rank's share of each global batch (one micro-batch a step).

    `set_epoch(seed)` draws the epoch's order and reseeds a `SeededSamples`
    dataset; a borrowed image (a last batch smaller than the world) counts in
    its rank's mean, the only place N processes differ from one.
    """

    def __init__(self, dataset: SeededSamples, batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 0):
        self.dataset, self.batch_size, self.world_size, self.rank = dataset, batch_size, world_size, rank
        self.set_epoch(seed)

    def set_epoch(self, seed: int) -> None:
        self.dataset.epoch_seed = seed
        self.batches = GlobalBatches(len(self.dataset), self.batch_size, seed, self.world_size, self.rank)

    def __iter__(self):
        return (mb.indices for mb in self.batches.schedule())

    def __len__(self) -> int:
        return len(self.batches)


def sample_seed(epoch_seed: int, index: int) -> int:
    return (epoch_seed * 2_654_435_761 + index) % (2 ** 63)


class SeededSamples(Dataset):
    """`dataset` whose item i is transformed under a torch RNG seeded from (epoch seed, i).

    The augmentation an image gets then depends on the image and the epoch only,
    not on which rank, worker or batch position loads it. The global RNG is
    restored after each item.
    """

    def __init__(self, dataset, epoch_seed: int = 0):
        self.dataset, self.epoch_seed = dataset, epoch_seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.epoch_seed, index))
            return self.dataset[index]
