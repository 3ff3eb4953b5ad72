"""Every image of a user's ImageFolder opened and decoded once, before any stage writes.

One truncated JPEG used to stop training in its first batch with PIL's
traceback and no file name, leaving the model stage done and train half-done.
This check finds such files up front: PIL's `verify()` (structure, PNG CRCs)
and a real decode, which is what catches truncation (`verify()` alone passes a
JPEG cut in half). JPEGs decode in draft mode at 1/8 scale: the whole
entropy-coded stream is still read, at a fraction of the cost. Decoding
releases the GIL, so a thread pool uses every core.

The check walks the files the data loader will read (`edge_swin.data.listing`:
links to folders followed, a loop refused), and converts each image the way
the loader does (`edge_swin.utils.rgb`): pixels with no 8-bit scale (32-bit,
float) make an image bad; a conversion that loses something (transparency,
CMYK without a profile) is named in a printed note.

The result is cached by the folder's listing (relative paths, sizes,
mtimes: `data_fingerprint`), so a rerun over the same files does not recheck.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from edge_swin.data.fingerprint import data_fingerprint
from edge_swin.data.folder import SPLIT_NAMES, split_dir
from edge_swin.data.listing import split_files
from edge_swin.errors import DataError
from edge_swin.utils.io import write_json
from edge_swin.utils.progress import progress as progress_bar
from edge_swin.utils.rgb import conversion_note, to_rgb

SLICE = 4096  # images queued in the thread pool at a time
CHECK_VERSION = 2  # bump when what counts as a bad image changes: old cache entries are then ignored
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
    converted: dict[str, str] = field(default_factory=dict)  # relative path -> what its conversion to RGB loses
    from_cache: bool = False
    cache_path: Path | None = None  # where the full result is kept

    @property
    def bad_paths(self) -> frozenset[str]:
        """Absolute paths of the bad images, as ImageFolder sees them."""
        return frozenset(str(self.root / p) for p in self.bad)

    def summary(self) -> dict:
        return {"images_checked": self.checked, "bad_images": len(self.bad), "non_image_files": len(self.non_images)}

    def conversion_note(self, shown: int = 5) -> str | None:
        """One line naming the images whose conversion to RGB loses something; None when there are none."""
        if not self.converted:
            return None
        listed = "; ".join(f"{path} ({note})" for path, note in sorted(self.converted.items())[:shown])
        more = f"; ... and {len(self.converted) - shown} more" if len(self.converted) > shown else ""
        return (f"[data] {len(self.converted)} image(s) lose something in the conversion to RGB that training and "
                f"the engine apps apply: {listed}{more}. Convert them yourself where that matters")

    def error(self, shown: int = 20) -> BadImagesError:
        lines = [f"  {path}: {reason}" for path, reason in sorted(self.bad.items())[:shown]]
        if len(self.bad) > shown:
            where = f" (all listed in {self.cache_path})" if self.cache_path else ""
            lines.append(f"  ... and {len(self.bad) - shown} more{where}")
        return BadImagesError(f"{len(self.bad)} of {self.checked} images under {self.root} cannot be read:\n"
                              + "\n".join(lines) + f"\n{SKIP_HINT}")


def inspect_image(path: str | Path) -> tuple[str | None, str | None]:
    """(why the file cannot be read as RGB, or None; what its conversion to RGB loses, or None), each one line."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:  # verify() leaves the image unusable: decode from a fresh open
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
            to_rgb(image)  # what the loader does next: refuses pixels it has no 8-bit scale for
            return None, conversion_note(image)
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        reason = str(err).replace(str(path), Path(path).name).strip() or "unreadable"
        return f"{type(err).__name__}: {reason}".replace("\n", " "), None


def decode_error(path: str | Path) -> str | None:
    """None when PIL opens, verifies and decodes the file and it converts to RGB; else the reason, as one line."""
    return inspect_image(path)[0]


def class_folder_files(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(images, other files) in the class folders of every split present: what the data loader reads (same walk)."""
    images, others = [], []
    for split in SPLIT_NAMES:
        try:
            folder = split_dir(root, split)
        except DataError:
            continue  # a missing split is image_folder's error to report, with the layout hint
        for files in split_files(folder).values():
            for path in files:
                (images if path.name.lower().endswith(IMG_EXTENSIONS) else others).append(path)
    return images, others


def cache_file(root: str | Path) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge_swin" / "image_check"
    return cache / f"{data_fingerprint(str(root))['sha256'][:32]}.json"


def check_images(root: str | Path, *, workers: int | None = None, progress: bool = True,
                 notify: Callable[[str], None] | None = print) -> ImageCheck:
    """Decode every image in root's class folders once (cached by the listing); returns what was found.

    notify: where the line naming lossy conversions goes (None: nowhere).
    """
    root = Path(root).resolve()
    cached = cache_file(root)  # named by the data's fingerprint: a listing of every file, computed once
    result = _cached_check(root, cached) or _check(root, cached, workers, progress)
    note = result.conversion_note()
    if note and notify is not None:
        notify(note)
    return result


def _cached_check(root: Path, cached: Path) -> ImageCheck | None:
    if cached.is_file():
        try:
            data = json.loads(cached.read_text())
            if data.get("key") == _cache_key(root):
                return ImageCheck(root, data["checked"], dict(data["bad"]), list(data["non_images"]),
                                  dict(data["converted"]), True, cached)
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable cache entry: check again and rewrite it
    return None


def _cache_key(root: Path) -> dict:
    return {"version": CHECK_VERSION, "root": str(root)}


def _check(root: Path, cached: Path, workers: int | None, progress: bool) -> ImageCheck:
    images, others = class_folder_files(root)
    reasons = []
    # Slices keep the pool's queue short: Executor.map submits a future per item up front (ImageNet: 1.28M).
    with ThreadPoolExecutor(workers or min(32, (os.cpu_count() or 1) + 4)) as pool, \
            progress_bar(total=len(images), desc=f"checking {len(images):,} images", unit="img",
                         disable=not progress) as bar:
        for start in range(0, len(images), SLICE):
            for found in pool.map(inspect_image, images[start:start + SLICE]):
                reasons.append(found)
                bar.update()
    relative = [str(p.relative_to(root)) for p in images]
    result = ImageCheck(root, len(images), {p: bad for p, (bad, _) in zip(relative, reasons) if bad is not None},
                        [str(p.relative_to(root)) for p in others],
                        {p: note for p, (_, note) in zip(relative, reasons) if note is not None}, cache_path=cached)
    try:
        write_json(cached, {"key": _cache_key(root), "checked": result.checked, "bad": result.bad,
                            "non_images": result.non_images, "converted": result.converted})
    except OSError:  # a read-only cache folder costs the next run a recheck, nothing else
        result.cache_path = None
    return result
