"""The files under a folder exactly as the data loader reads them: one walk for the loader, the check and the fingerprint.

torchvision's ImageFolder walks each class folder with `os.walk(followlinks=True)`:
a symbolic link to a folder is followed, and a link loop is followed again at
every level until the path is too long (a class folder with a link to its
parent is read about 40 times over). `walk_files` is the same walk, in the same
order (folders sorted by path, then file names), with two differences: a
folder reached a second time (a loop, or two links to one folder) stops it with
a DataError naming the link, and a folder it cannot list is an error instead of
being skipped. `edge_swin.data.folder.image_folder` builds its samples from this
walk, and the image check and the data fingerprint see the same files (the
fingerprint walks the whole data root leniently: it passes over such folders).
"""
from __future__ import annotations

import os
from pathlib import Path

from edge_swin.errors import DataError


def walk_files(top: str | Path, seen: dict[tuple[int, int], Path] | None = None, *,
               lenient: bool = False) -> list[Path]:
    """Every non-folder entry under `top` (broken links included: the loader would try them), in ImageFolder's order.

    `seen`: (device, inode) -> path of the folders already walked, shared between calls so that one folder reached
    from two class folders of a split is refused too. lenient: pass over a sub-folder that cannot be listed or
    was already walked instead of refusing it (the fingerprint of a data root, whose folders outside the splits
    the loader never reads: a mounted volume's lost+found, a convenience link).
    """
    top = Path(top)
    seen = {} if seen is None else seen
    _visit(top, top.parent, seen)
    found = []

    def refuse_unlistable(err: OSError) -> None:
        raise DataError(f"cannot list {err.filename}: {err.strerror}. Fix its permissions, or move it out of the "
                        "data folder") from None

    onerror = None if lenient else refuse_unlistable
    for root, dirs, files in sorted(_pruned(os.walk(top, followlinks=True, onerror=onerror), seen, lenient)):
        found.extend(Path(root) / name for name in sorted(files))
    return found


def _pruned(walk, seen: dict[tuple[int, int], Path], lenient: bool):
    """os.walk (top-down) with every sub-folder checked before it is entered (lenient: a refused one is not)."""
    for root, dirs, files in walk:
        dirs.sort()  # visited and entered in name order: which of two paths is kept does not depend on the disk
        for name in list(dirs):
            try:
                _visit(Path(root) / name, Path(root), seen)
            except DataError:
                if not lenient:
                    raise
                dirs.remove(name)  # os.walk does not enter what is taken out of `dirs`
        yield root, dirs, files


def _visit(folder: Path, parent: Path, seen: dict[tuple[int, int], Path]) -> None:
    try:
        info = folder.stat()
    except OSError as err:
        raise DataError(f"cannot read {folder}: {err.strerror}") from None
    key = (info.st_dev, info.st_ino)
    if key in seen and seen[key] != folder:
        first = seen[key]
        if _is_within(parent, first):
            what = f"{folder} (a link to {_target(folder)}) is a symbolic-link loop: the data loader would read the " \
                   "folders above it again at every level"
        else:  # name the link, whichever of the two paths was walked first
            link, other = (first, folder) if first.is_symlink() and not folder.is_symlink() else (folder, first)
            what = f"{link} (a link to {_target(link)}) is the same folder as {other}: its images would be read twice"
        raise DataError(f"{what}. Remove the link, or replace it with the folder's own copy if the images belong "
                        "there too")
    seen[key] = folder


def _target(path: Path) -> str:
    return os.readlink(path) if path.is_symlink() else str(path.resolve())


def _is_within(path: Path, folder: Path) -> bool:
    """True when `path` is `folder` or below it, as the walk reached them (links not resolved)."""
    return path == folder or folder in path.parents


def split_files(folder: str | Path) -> dict[str, list[Path]]:
    """class name -> its files, for one split folder: torchvision's class rule (every sub-folder, links followed,
    sorted by name) and `walk_files` below each; one folder reached from two places is refused across the split."""
    folder = Path(folder)
    seen: dict[tuple[int, int], Path] = {}
    _visit(folder, folder, seen)
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    return {name: walk_files(folder / name, seen) for name in classes}
