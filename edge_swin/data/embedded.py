"""The embedded default dataset: Fashion-MNIST as shipped by Debian's `dataset-fashion-mnist` package.

Real photographs of clothing (Zalando, MIT licence): 60,000 train and 10,000
test images, 28x28 grey, 10 balanced classes. The package installs the original
IDX files under /usr/share/datasets/fashion-mnist; nothing is downloaded at run
time. Images are served as 3-channel uint8 so every Swin stem (in_chans=3) and
every transform works on them exactly as on an ImageFolder of photos.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from edge_swin.data.arrays import ArrayImageDataset
from edge_swin.errors import DataError

NAME = "fashion-mnist"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
ROOT_ENV = "EDGE_SWIN_FASHION_MNIST"  # another folder with the same four .gz files
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
FILES = {"train": "train", "val": "t10k"}
INSTALL_HINT = ("Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set "
                f"{ROOT_ENV} to a folder holding the four Fashion-MNIST .gz files, or pass --data DIR.")


def dataset_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT))


def _read_idx(path: Path, magic: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"embedded dataset file missing: {path}. {INSTALL_HINT}")
    try:
        with gzip.open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path} ({err}): the file is corrupt. Reinstall: apt-get install --reinstall dataset-fashion-mnist") from None
    if int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path} is not an IDX file (bad magic number). Reinstall: apt-get install --reinstall dataset-fashion-mnist")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 28, 28, 3] uint8, labels [N] int64) of 'train' or 'val'."""
    prefix = dataset_root() / FILES[split]
    images = _read_idx(Path(f"{prefix}-images-idx3-ubyte.gz"), 2051)
    labels = _read_idx(Path(f"{prefix}-labels-idx1-ubyte.gz"), 2049).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{prefix}: {len(images)} images but {len(labels)} labels. Reinstall the package.")
    return np.repeat(images[..., None], 3, axis=-1), labels


def embedded_dataset(split: str, transform=None, batch_recipe=None) -> ArrayImageDataset:
    images, labels = load_arrays(split)
    return ArrayImageDataset(images, labels, CLASSES, transform, name=f"{NAME}/{split}", batch_recipe=batch_recipe)


def describe() -> dict:
    return {"name": NAME, "source": "Debian package dataset-fashion-mnist", "root": str(dataset_root()),
            "license": "MIT (images (c) 2017 Zalando SE)", "train": 60000, "val": 10000, "classes": len(CLASSES),
            "image_size": "28x28 grey, served as RGB"}
