"""ImageFolder trees (root/train/<class>/*.jpg, root/val/<class>/*.jpg), checked before use."""
from __future__ import annotations

from pathlib import Path

from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from edge_swin.data.listing import split_files
from edge_swin.errors import DataError
from edge_swin.utils.rgb import load_rgb

SPLIT_NAMES = {"train": ("train",), "val": ("val", "validation", "test")}
LAYOUT_HINT = "Expected DIR/train/<class>/<image> and DIR/val/<class>/<image> (ImageFolder layout), or omit --data to use the embedded dataset."


def split_dir(root: str | Path, split: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}. {LAYOUT_HINT}")
    for name in SPLIT_NAMES[split]:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root} has no '{SPLIT_NAMES[split][0]}' folder. {LAYOUT_HINT}")


def image_folder(root: str | Path, split: str, transform=None, exclude: frozenset[str] = frozenset()) -> ImageFolder:
    """The `split` ImageFolder under `root`, with a clear error for every way the tree can be wrong.

    exclude: absolute paths of images to leave out (the unreadable ones, with --skip-bad-images).
    """
    folder = split_dir(Path(root).resolve(), split)

    def wanted(path: str) -> bool:  # torchvision's own suffix rule, minus the excluded files
        return path.lower().endswith(IMG_EXTENSIONS) and path not in exclude

    try:
        return CheckedImageFolder(str(folder), transform=transform, loader=load_rgb, is_valid_file=wanted)
    except (FileNotFoundError, RuntimeError) as err:  # torchvision: no class folders / no images
        raise DataError(f"{folder} holds no usable images ({err}). {LAYOUT_HINT}") from None


class CheckedImageFolder(ImageFolder):
    """torchvision's ImageFolder over the files `edge_swin.data.listing` walks: those the image check decoded.

    The same classes, samples and order as ImageFolder's own walk, except that a link loop or a folder reached
    twice is refused (DataError) instead of read over and over; images load through `load_rgb` (16-bit grey
    scaled, not clipped).
    """

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        files = split_files(directory)
        samples, empty = [], []
        for name in sorted(class_to_idx):
            chosen = [(str(path), class_to_idx[name]) for path in files[name] if is_valid_file(str(path))]
            samples.extend(chosen)
            if not chosen:
                empty.append(name)
        if empty and not allow_empty:  # torchvision's own error, which image_folder turns into a DataError
            raise FileNotFoundError(f"Found no valid file for the classes {', '.join(empty)}. "
                                    f"Supported extensions are: {', '.join(IMG_EXTENSIONS)}")
        return samples


def check_same_classes(train, val) -> None:
    if list(train.classes) != list(val.classes):
        raise DataError(
            f"train and val have different classes: {train.classes[:5]}... vs {val.classes[:5]}...; "
            "both splits need the same class sub-folders."
        )
