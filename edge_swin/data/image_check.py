"""Every image of a user's ImageFolder opened and decoded once, before any stage writes.

One truncated JPEG used to stop training in its first batch with PIL's
traceback and no file name, leaving the model stage done and train half-done.
This check finds such files up front: PIL's `verify()` (structure, PNG CRCs)
and a real decode, which is what catches truncation (`verify()` alone passes a
JPEG cut in half). JPEGs decode in draft mode at 1/8 scale: the whole
entropy-coded stream is still read, at a fraction of the cost. Decoding
releases the GIL, so a thread pool uses every core.

The result is cached by the folder's listing (relative paths, sizes,
mtimes: `data_fingerprint`), so a rerun over the same files does not recheck.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS
from tqdm import tqdm

from edge_swin.data.fingerprint import data_fingerprint
from edge_swin.data.folder import SPLIT_NAMES, split_dir
from edge_swin.errors import DataError
from edge_swin.utils.io import write_json

SLICE = 4096  # images queued in the thread pool at a time
CHECK_VERSION = 1  # bump when what counts as a bad image changes: old cache entries are then ignored
SKIP_HINT = ("Fix or delete these files, or rerun with --skip-bad-images to train without them "
             "(the report counts them).")


class BadImagesError(DataError):
    """Some images of the folder cannot be decoded."""


@dataclass
class ImageCheck:
    """What the check found under one data root; paths are relative to it."""

    root: Path
    checked: int = 0  # image files decoded (or taken from the cache)
    bad: dict[str, str] = field(default_factory=dict)  # relative path -> PIL's reason
    non_images: list[str] = field(default_factory=list)  # files in class folders without an image suffix
    from_cache: bool = False
    cache_path: Path | None = None  # where the full result is kept

    @property
    def bad_paths(self) -> frozenset[str]:
        """Absolute paths of the bad images, as ImageFolder sees them."""
        return frozenset(str(self.root / p) for p in self.bad)

    def summary(self) -> dict:
        return {"images_checked": self.checked, "bad_images": len(self.bad), "non_image_files": len(self.non_images)}

    def error(self, shown: int = 20) -> BadImagesError:
        lines = [f"  {path}: {reason}" for path, reason in sorted(self.bad.items())[:shown]]
        if len(self.bad) > shown:
            where = f" (all listed in {self.cache_path})" if self.cache_path else ""
            lines.append(f"  ... and {len(self.bad) - shown} more{where}")
        return BadImagesError(f"{len(self.bad)} of {self.checked} images under {self.root} cannot be read:\n"
                              + "\n".join(lines) + f"\n{SKIP_HINT}")


def decode_error(path: str | Path) -> str | None:
    """None when PIL opens, verifies and decodes the file; else PIL's reason, as one line."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:  # verify() leaves the image unusable: decode from a fresh open
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        reason = str(err).replace(str(path), Path(path).name).strip() or "unreadable"
        return f"{type(err).__name__}: {reason}".replace("\n", " ")
    return None


def class_folder_files(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(images, other files) in the class folders of every split present: what ImageFolder would look at."""
    images, others = [], []
    for split in SPLIT_NAMES:
        try:
            folder = split_dir(root, split)
        except DataError:
            continue  # a missing split is image_folder's error to report, with the layout hint
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
                (images if path.suffix.lower() in IMG_EXTENSIONS else others).append(path)
    return images, others


def cache_file(root: str | Path) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge_swin" / "image_check"
    return cache / f"{data_fingerprint(str(root))['sha256'][:32]}.json"


def check_images(root: str | Path, *, workers: int | None = None, progress: bool = True) -> ImageCheck:
    """Decode every image in root's class folders once (cached by the listing); returns what was found."""
    root = Path(root).resolve()
    cached = cache_file(root)
    key = {"version": CHECK_VERSION, "root": str(root)}
    if cached.is_file():
        try:
            data = json.loads(cached.read_text())
            if data.get("key") == key:
                return ImageCheck(root, data["checked"], dict(data["bad"]), list(data["non_images"]), True, cached)
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable cache entry: check again and rewrite it
    images, others = class_folder_files(root)
    reasons = []
    # Slices keep the pool's queue short: Executor.map submits a future per item up front (ImageNet: 1.28M).
    with ThreadPoolExecutor(workers or min(32, (os.cpu_count() or 1) + 4)) as pool, \
            tqdm(total=len(images), desc=f"checking {len(images):,} images", unit="img", disable=not progress) as bar:
        for start in range(0, len(images), SLICE):
            for reason in pool.map(decode_error, images[start:start + SLICE]):
                reasons.append(reason)
                bar.update()
    result = ImageCheck(root, len(images),
                        {str(p.relative_to(root)): r for p, r in zip(images, reasons) if r is not None},
                        [str(p.relative_to(root)) for p in others], cache_path=cached)
    try:
        write_json(cached, {"key": key, "checked": result.checked, "bad": result.bad, "non_images": result.non_images})
    except OSError:  # a read-only cache folder costs the next run a recheck, nothing else
        result.cache_path = None
    return result
