"""Atomic writes, content hashes and the cache folder: a failed stage leaves no half-written artifact.

Files a later step reads back (checkpoints, calibration caches, JSON side files) carry a digest:
`<file>.sha256` beside them, in `sha256sum` format, written right after the file. `verify_digest`
checks it before the file is used, so a bit flip on disk is named instead of loaded (torch.load does
not check its zip records' CRCs).

A full disk, a read-only folder or a permission error while writing ends in one `WriteError` that
names the path and the cause; the temporary file is removed, the previous file (if any) is untouched.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path

from edge_swin.errors import EdgeSwinError

DIGEST_SUFFIX = ".sha256"
# What the user can do about each write failure.
WRITE_FIXES = {
    errno.ENOSPC: "the disk is full: free space there or give --out on another disk, then rerun",
    errno.EDQUOT: "the disk quota is used up: free space there or give --out on another disk, then rerun",
    errno.EROFS: "the file system is read-only: give --out on a writable one, then rerun",
    errno.EACCES: "permission denied: make the folder writable for this user or give another --out, then rerun",
    errno.EPERM: "not permitted: make the folder writable for this user or give another --out, then rerun",
    errno.ENOTDIR: "a parent of it is a file, not a folder: give another --out, then rerun",
}
# torch.save reports a failed write from its C++ zip writer as a RuntimeError, without an errno.
TORCH_WRITER_FAILURES = ("PytorchStreamWriter", "inline_container", "unexpected pos")


class WriteError(EdgeSwinError):
    """A file could not be written (full disk, read-only or forbidden folder); nothing half-written is kept."""


class CorruptFileError(EdgeSwinError):
    """A file no longer matches the digest written with it."""


def write_error(path: str | Path, err: BaseException) -> WriteError | None:
    """The user's message for a failed write of `path`, or None when `err` is not a write failure."""
    if isinstance(err, OSError) and err.errno in WRITE_FIXES:
        where = err.filename or path
        return WriteError(f"cannot write {where}: {err.strerror or os.strerror(err.errno)}; {WRITE_FIXES[err.errno]} "
                          "(nothing half-written was kept)")
    if isinstance(err, RuntimeError) and any(s in str(err) for s in TORCH_WRITER_FAILURES):
        cause = _likely_cause(Path(path).parent)
        return WriteError(f"cannot write {path}: {cause} (nothing half-written was kept)")
    return None


def _likely_cause(folder: Path) -> str:
    import shutil

    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 64 << 20:
        return f"the disk is full ({free / 2**20:.0f} MiB free): free space there or give --out on another disk, then rerun"
    return "the write failed part-way (a full disk, a quota or an I/O error); free space or give another --out, then rerun"


@contextlib.contextmanager
def atomic_path(path: str | Path, digest: bool = False):
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes without error.

    digest: also write `<path>.sha256` (what `verify_digest` checks when the file is read back).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual permissions
        sha = sha256_file(tmp) if digest else None
        os.replace(tmp, path)
        if sha is not None:
            write_text(digest_path(path), f"{sha}  {path.name}\n")
    except (OSError, RuntimeError) as err:
        translated = write_error(path, err)
        if translated is None:
            raise
        raise translated from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data, digest: bool = False) -> None:
    with atomic_path(path, digest=digest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_torch(obj, path: str | Path) -> None:
    """torch.save, atomically, with the digest `load_torch` checks."""
    import torch

    with atomic_path(path, digest=True) as tmp:
        torch.save(obj, tmp)


def digest_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def verify_digest(path: str | Path, fix: str) -> None:
    """Raise CorruptFileError, naming `path` and `fix`, unless `path` matches the digest written with it."""
    path, sidecar = Path(path), digest_path(path)
    try:
        recorded = sidecar.read_text().split()[0]
    except (OSError, IndexError):
        raise CorruptFileError(f"{path} cannot be trusted: its digest {sidecar.name} is missing or empty (deleted, or "
                               f"the write was interrupted); {fix}") from None
    if sha256_file(path) != recorded:
        raise CorruptFileError(f"{path} is corrupted: it no longer matches the digest written with it "
                               f"({sidecar.name}; a disk error or an edit); {fix}")


def load_torch(path: str | Path, fix: str):
    """torch.load (weights only) of a file `save_torch` wrote, after checking its digest."""
    import torch

    verify_digest(path, fix)
    return torch.load(path, map_location="cpu", weights_only=True)


def read_json(path: str | Path, fix: str):
    """A JSON file written with `write_json(..., digest=True)`, after checking its digest."""
    verify_digest(path, fix)
    return json.loads(Path(path).read_text())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def cache_root() -> Path:
    """~/.cache/edge_swin (or $XDG_CACHE_HOME/edge_swin): what is built once per machine (kernels, plugin libraries,
    the TensorRT-RTX alias library)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge_swin"
