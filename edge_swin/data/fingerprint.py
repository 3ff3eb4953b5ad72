"""What identifies a dataset for stage skipping."""
from __future__ import annotations

from pathlib import Path

from edge_swin.data import embedded
from edge_swin.errors import DataError
from edge_swin.utils.io import sha256_file, sha256_json


def data_fingerprint(data_dir: str | None) -> dict:
    """File hashes of the embedded set, or the (path, size, mtime) listing of a folder: cheap, and changes with any file."""
    if data_dir is None:
        root = embedded.dataset_root()
        files = sorted(root.glob("*-ubyte.gz"))
        if not files:
            raise DataError(f"the embedded dataset is not installed ({root} is empty or missing). {embedded.INSTALL_HINT}")
        return {"name": embedded.NAME, "root": str(root), "sha256": sha256_json({f.name: sha256_file(f) for f in files})}
    root = Path(data_dir).resolve()
    listing = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    return {"name": root.name, "root": str(root), "files": len(listing), "sha256": sha256_json(listing)}
