"""What identifies a dataset for stage skipping."""
from __future__ import annotations

from pathlib import Path

from edge_swin.data import embedded
from edge_swin.data.listing import walk_files
from edge_swin.errors import DataError
from edge_swin.utils.io import sha256_file, sha256_json


def data_fingerprint(data_dir: str | None) -> dict:
    """File hashes of the embedded set, or the (path, size, mtime) listing of a folder: cheap, and changes with any file.

    The folder is walked as the data loader walks it (links to folders followed, a loop refused): a file changed
    behind a link changes the fingerprint too.
    """
    if data_dir is None:
        root = embedded.dataset_root()
        files = sorted(root.glob("*-ubyte.gz"))
        if not files:
            raise DataError(f"the embedded dataset is not installed ({root} is empty or missing). {embedded.INSTALL_HINT}")
        return {"name": embedded.NAME, "root": str(root), "sha256": sha256_json({f.name: sha256_file(f) for f in files})}
    root = Path(data_dir).resolve()
    # A missing folder: image_folder says so, with the layout. A folder that cannot be listed, or is reached a
    # second time, is passed over here: the image check refuses one inside the class folders, with the reason.
    files = walk_files(root, lenient=True) if root.is_dir() else []
    listing = sorted((str(p.relative_to(root)), *_size_and_time(p)) for p in files)
    return {"name": root.name, "root": str(root), "files": len(listing), "sha256": sha256_json(listing)}


def _size_and_time(path: Path) -> tuple[int, int]:
    """The file's (size, mtime), or its link's where the link is broken (the loader fails on it; the check says so)."""
    try:
        info = path.stat()
    except OSError:
        info = path.lstat()
    return info.st_size, info.st_mtime_ns
