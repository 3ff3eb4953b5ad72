"""Whole batches from images held in memory: the fast data path of the embedded dataset.

Per-image PIL transforms in a DataLoader cost a 2-core machine about a sixth
of its training time on the 32 px demo model. Here the deterministic part of a
transform (resize and center crop, done once with the same PIL calls as the
per-image transform) is cached as one uint8 tensor [N, 3, H, W]; the random
part (padded random crop, horizontal flip) and the normalisation run on whole
batches in torch. The result has the distribution of the per-image transform
(identical pixels for the same crop offset and flip; tests hold this).

`BatchLoader` (evaluation, ad-hoc use) draws from torch's global generator.
`IndexBatchLoader` serves the index lists of a batch sampler (the trainer's
and QAT's `edge_swin.train.batches` schedules) and draws each image's crop
offset and flip from a generator seeded by (epoch seed, image index), like
`SeededSamples` does for the per-image path: an image's augmentation does not
depend on the rank, batch or position that loads it, so N processes under
torchrun see the same pixels one process does.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CACHE_CHUNK = 2048  # images per thread task when caching the geometry


@dataclass(frozen=True)
class BatchRecipe:
    """What a per-image transform does, split into its cached and its per-batch part.

    geometry: PIL image -> PIL image of the model's size (resize + center crop), applied once per image.
    pad: random crop of the geometry's size from the image zero-padded by `pad` pixels (0: no crop).
    flip: random horizontal flip with probability 0.5.
    """

    geometry: object
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad: int = 0
    flip: bool = False


class BatchLoader:
    """An iterable of (float images [B, 3, H, W] normalised, int64 labels [B]) over cached uint8 images.

    Stands in for `DataLoader(dataset, batch_size, shuffle, generator)`: same batch count, same order
    semantics (a permutation drawn from `generator` when shuffling), the last batch may be short.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, recipe: BatchRecipe, batch_size: int,
                 shuffle: bool = False, generator: torch.Generator | None = None):
        self.images, self.labels, self.recipe = images, labels, recipe
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.mean = torch.tensor(recipe.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(recipe.std).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            images = self.images[index]
            if self.recipe.pad:
                images = random_crop(images, self.recipe.pad)
            if self.recipe.flip:
                images = random_flip(images)
            yield (images.float() - self.mean) / self.std, self.labels[index]


def sample_seed(epoch_seed: int, index: int) -> int:
    """The seed of image `index`'s augmentation in the epoch seeded `epoch_seed` (per-image and batch paths alike)."""
    return (epoch_seed * 2_654_435_761 + index) % (2 ** 63)


class IndexBatchLoader:
    """(images, labels) for each index list `batch_sampler` yields, augmented per image from (epoch seed, index).

    `seeds.epoch_seed` is read at every batch (a `SeededSamples`, reseeded by the
    trainer or by `RankBatches.set_epoch`). Stands in for
    `DataLoader(seeds, batch_sampler=batch_sampler)`; `batch_sampler` stays reachable for `set_epoch`.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, recipe: BatchRecipe, batch_sampler, seeds=None):
        self.images, self.labels, self.recipe = images, labels, recipe
        self.batch_sampler, self.seeds = batch_sampler, seeds
        self.mean = torch.tensor(recipe.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(recipe.std).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        for indices in self.batch_sampler:
            index = torch.as_tensor(list(indices), dtype=torch.int64)
            images = self.images[index]
            if self.recipe.pad or self.recipe.flip:
                offsets, flips = self._draws(index.tolist())
                if self.recipe.pad:
                    images = random_crop(images, self.recipe.pad, offsets)
                if self.recipe.flip:
                    images = random_flip(images, flips)
            yield (images.float() - self.mean) / self.std, self.labels[index]

    def _draws(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image: (row, column) crop offset and flip, from a counter-based generator seeded by (epoch seed, index)."""
        bits = seeded_bits(getattr(self.seeds, "epoch_seed", 0), np.asarray(indices, dtype=np.uint64))
        span = np.uint64(2 * self.recipe.pad + 1)
        offsets = np.stack([(bits >> np.uint64(8)) % span, (bits >> np.uint64(24)) % span], axis=1).astype(np.int64)
        flips = ((bits >> np.uint64(63)) == 1)
        return torch.from_numpy(offsets), torch.from_numpy(flips)


def seeded_bits(epoch_seed: int, indices: np.ndarray) -> np.ndarray:
    """64 random bits per image: SplitMix64 of `sample_seed(epoch_seed, index)`, vectorised.

    A generator object per image (torch.Generator + manual_seed) costs ~0.4 ms: more than the whole
    batch's crop and flip. The hash depends on (epoch seed, index) only, like `SeededSamples`' draws.
    """
    base = np.uint64(sample_seed(epoch_seed, 0))
    with np.errstate(over="ignore"):
        x = ((indices.astype(np.uint64) + base) & np.uint64(2 ** 63 - 1)) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def random_crop(images: torch.Tensor, pad: int, offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Each image cropped at its own random offset from a zero-padded copy (torchvision RandomCrop(padding=pad)).

    offsets: int64 [B, 2] (row, column) in [0, 2 * pad]; drawn from torch's global generator when None.
    """
    B, C, H, W = images.shape
    Wp = W + 2 * pad
    padded = F.pad(images, (pad, pad, pad, pad)).flatten(2)
    # One gather over the flattened padded map: ~10x faster on a CPU than indexing rows and columns.
    if offsets is None:
        start = torch.randint(0, 2 * pad + 1, (B, 1)) * Wp + torch.randint(0, 2 * pad + 1, (B, 1))
    else:
        start = (offsets[:, 0] * Wp + offsets[:, 1]).view(B, 1)
    pixels = (torch.arange(H).view(H, 1) * Wp + torch.arange(W)).view(1, H * W)
    return padded.gather(2, (pixels + start).unsqueeze(1).expand(B, C, H * W)).view(B, C, H, W)


def random_flip(images: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Images where `flip` (bool [B]; drawn with probability 0.5 when None) mirrored left-right."""
    flip = torch.rand(len(images)) < 0.5 if flip is None else flip
    images = images.clone()
    images[flip] = images[flip].flip(-1)
    return images


def cache_geometry(images: np.ndarray, geometry) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> uint8 [N, 3, h, w] after the PIL geometry, the same pixels the per-image path sees."""
    def chunk(start: int) -> list[np.ndarray]:
        return [np.asarray(geometry(Image.fromarray(image))) for image in images[start:start + CACHE_CHUNK]]

    # PIL's resize releases the GIL: threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        out = [image for part in pool.map(chunk, range(0, len(images), CACHE_CHUNK)) for image in part]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def data_loader(dataset, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                num_workers: int = 0):
    """The dataset's whole-batch loader when it has a batch recipe (in-memory data), else a torch DataLoader."""
    if getattr(dataset, "batch_recipe", None) is not None:
        return dataset.batch_loader(batch_size, shuffle=shuffle, generator=generator)
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers)


def index_loader(dataset, batch_sampler, num_workers: int = 0):
    """Batches of `dataset` for the index lists `batch_sampler` yields.

    `dataset` may be a `SeededSamples` (per-image augmentation seeded from
    (epoch seed, index)). When the data underneath has a batch recipe
    (in-memory data) the batches are made whole in torch (`IndexBatchLoader`,
    the same seeding); otherwise `DataLoader(dataset, batch_sampler=...)`.
    """
    base = dataset.dataset if hasattr(dataset, "epoch_seed") else dataset
    if getattr(base, "batch_recipe", None) is not None:
        return base.index_loader(batch_sampler, seeds=dataset)
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers)
