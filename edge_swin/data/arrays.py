"""An ImageFolder-compatible dataset over in-memory uint8 images (the embedded dataset)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from edge_swin.data.batches import BatchLoader, BatchRecipe, IndexBatchLoader, cache_geometry
from edge_swin.utils.progress import progress


class ArrayImageDataset(Dataset):
    """Images [N, H, W, 3] uint8 with labels, behaving like torchvision's ImageFolder.

    Same attributes (`classes`, `class_to_idx`, `targets`) and items (PIL image
    through `transform`, int label), so every stage treats it like a folder.
    """

    def __init__(self, images: np.ndarray, targets, classes: list[str], transform=None, name: str = "arrays",
                 batch_recipe: BatchRecipe | None = None):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
        self.images = images
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform = transform
        self.name = name
        self.batch_recipe = batch_recipe  # the transform as a whole-batch recipe: `batch_loader` serves it
        self._cached: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    def batch_loader(self, batch_size: int, shuffle: bool = False, generator=None) -> BatchLoader:
        """Whole batches in torch, the fast path (`edge_swin.data.batches`); needs a `batch_recipe`."""
        return BatchLoader(*self._batch_data(), batch_size, shuffle, generator)

    def index_loader(self, batch_sampler, seeds=None) -> IndexBatchLoader:
        """Whole batches for a batch sampler's index lists, augmented per image from (seeds.epoch_seed, index)."""
        return IndexBatchLoader(*self._batch_data(), batch_sampler, seeds)

    def _batch_data(self) -> tuple[torch.Tensor, torch.Tensor, BatchRecipe]:
        if self.batch_recipe is None:
            raise ValueError(f"{self.name} has no batch recipe: use a DataLoader")
        if self._cached is None:  # resize once, with the per-image transform's PIL calls
            self._cached = cache_geometry(self.images, self.batch_recipe.geometry)
        return self._cached, torch.as_tensor(self.targets, dtype=torch.int64), self.batch_recipe

    def export_image_folder(self, root: str | Path) -> Path:
        """Write the images as root/<class>/<index>.png: the same data as a plain ImageFolder tree."""
        root = Path(root)
        for cls in self.classes:
            (root / cls).mkdir(parents=True, exist_ok=True)
        for i in progress(range(len(self)), desc=f"writing {self.name} to {root}", unit="img"):
            Image.fromarray(self.images[i]).save(root / self.classes[self.targets[i]] / f"{i:06d}.png")
        return root
