"""Datasets: any ImageFolder tree, or the embedded Fashion-MNIST when no folder is given."""
from __future__ import annotations

from edge_swin.data.arrays import ArrayImageDataset
from edge_swin.data.embedded import embedded_dataset
from edge_swin.data.fingerprint import data_fingerprint
from edge_swin.data.folder import check_same_classes, image_folder
from edge_swin.data.image_check import BadImagesError, ImageCheck, check_images
from edge_swin.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform, train_transform


def build_datasets(data_dir: str | None, img_size: int, train_recipe: str | None = None, crop_pct: float | None = None,
                   exclude: frozenset[str] = frozenset()):
    """(train, val) datasets with Swin's transforms.

    data_dir None selects the embedded dataset, whose images are smaller than
    any model input: they are resized whole (crop_pct 1.0) and trained with the
    light "small" recipe unless told otherwise. Folders default to Swin's
    ImageNet recipe and 224/256 center crop. `exclude`: image paths to leave out
    of a folder (`ImageCheck.bad_paths`, with --skip-bad-images).
    """
    if data_dir is None:
        crop_pct = 1.0 if crop_pct is None else crop_pct
        train = embedded_dataset("train", train_transform(img_size, train_recipe or "small"))
        val = embedded_dataset("val", eval_transform(img_size, crop_pct))
        return train, val
    kwargs = {} if crop_pct is None else {"crop_pct": crop_pct}
    train = image_folder(data_dir, "train", train_transform(img_size, train_recipe or "imagenet"), exclude)
    val = image_folder(data_dir, "val", eval_transform(img_size, **kwargs), exclude)
    check_same_classes(train, val)
    return train, val


def build_calibration_source(data_dir: str | None, img_size: int, crop_pct: float | None = None,
                             exclude: frozenset[str] = frozenset()):
    """The train split through the *eval* transform: what INT8 calibration should see (no augmentation)."""
    if data_dir is None:
        return embedded_dataset("train", eval_transform(img_size, 1.0 if crop_pct is None else crop_pct))
    kwargs = {} if crop_pct is None else {"crop_pct": crop_pct}
    return image_folder(data_dir, "train", eval_transform(img_size, **kwargs), exclude)


__all__ = [
    "build_calibration_source", "BadImagesError", "ImageCheck", "check_images",
    "data_fingerprint",
    "ArrayImageDataset", "IMAGENET_MEAN", "IMAGENET_STD", "build_datasets", "check_same_classes",
    "embedded_dataset", "eval_transform", "image_folder", "train_transform",
]

