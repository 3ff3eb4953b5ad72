"""Stage bookkeeping: one folder a stage, a JSON manifest, skip when the inputs have not changed.

A stage's inputs (settings plus the hashes of the artifacts it reads) are hashed
into a fingerprint. The manifest is written last, atomically, after every
artifact is in place, so a folder without a manifest (or with one of another
fingerprint, or whose artifacts no longer hash the same) is simply redone.

Before a stage rewrites anything, `Stage.begin` marks its own manifest and those of
the stages after it "stale" (and drops a STALE.txt in their folders): whatever
happens next (a failed check, an interrupt, a full disk), no folder claims to be
the current result of inputs that are being replaced.
"""
from __future__ import annotations

import datetime as dt
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_swin.utils import distributed
from edge_swin.utils.io import digest_path, sha256_file, sha256_json, write_json, write_text

MANIFEST = "manifest.json"
# Part of every fingerprint: a folder written by an older layout (2: the files a stage reads back carry a
# .sha256 digest) is redone once instead of failing its digest check.
FOLDER_FORMAT = 2
STALE_NOTE = "STALE.txt"
DONE, NOT_BUILT, SKIPPED, STALE, FAILED = "done", "not_built", "skipped", "stale", "failed"


def read_manifest(stage_dir: Path) -> dict | None:
    """The manifest in `stage_dir`, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(stage_dir) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def mark_stale(stage_dir: Path, because: str) -> bool:
    """Mark a finished stage's folder as no longer current; True when it had a manifest to mark."""
    stage_dir = Path(stage_dir)
    manifest = read_manifest(stage_dir)
    if manifest is None:
        return False
    if manifest.get("status") != STALE:
        manifest.update(status=STALE, note=because)
        write_json(stage_dir / MANIFEST, manifest)
    write_text(stage_dir / STALE_NOTE,
               f"The files in this folder are NOT current: {because}.\n"
               "They were made from inputs that are being replaced; do not deploy or compare them.\n"
               "Rerun the pipeline: this folder is rebuilt, and this note removed, when its stage finishes.\n")
    return True


def versions() -> dict[str, str]:
    """Versions that decide what an artifact contains."""
    import numpy
    import torch

    import edge_swin

    found = {"edge_swin": edge_swin.__version__, "python": platform.python_version(), "torch": torch.__version__,
             "numpy": numpy.__version__}
    for module in ("torchvision", "timm", "modelopt", "onnx", "onnxruntime", "tensorrt", "tensorrt_rtx"):
        try:
            found[module] = __import__(module).__version__
        except Exception:  # absent or broken optional package: not part of this run
            continue
    return found


@dataclass
class Stage:
    """One run of one stage: call `up_to_date()`, then either reuse `manifest` or do the work and `finish()`."""

    out_dir: Path
    name: str
    inputs: dict
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.dir = Path(self.out_dir) / self.name
        self.fingerprint = sha256_json({"folder_format": FOLDER_FORMAT, **self.inputs})

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    @property
    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text())

    def path(self, filename: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / filename

    def up_to_date(self) -> bool:
        """True when a finished run of this stage had the same inputs and its artifacts are intact.

        A stage marked stale whose inputs turn out unchanged (the stage before it was redone with the same
        result) is current again: its manifest goes back to done and its STALE.txt is removed.
        """
        if not self.manifest_path.is_file():
            return False
        try:
            manifest = self.manifest
        except json.JSONDecodeError:
            return False
        if manifest.get("fingerprint") != self.fingerprint or manifest.get("status") not in (DONE, STALE):
            return False
        for art in manifest.get("artifacts", {}).values():
            path = self.dir / art["path"]
            if not path.is_file() or sha256_file(path) != art["sha256"]:
                return False
            if art.get("digest") and _recorded_digest(path) != art["sha256"]:
                return False  # its .sha256 is gone or changed: the reader would refuse the file
        if manifest["status"] == STALE and distributed.is_main():  # under torchrun rank 0 alone writes
            write_json(self.manifest_path, {**manifest, "status": DONE, "note": ""})
            (self.dir / STALE_NOTE).unlink(missing_ok=True)
        return True

    def begin(self, later: list[str], because: str) -> list[str]:
        """Call before the stage writes anything: it and the `later` stages (by folder name) are marked stale.
        Returns the later stages that were marked."""
        mark_stale(self.dir, because)
        return [name for name in later if mark_stale(Path(self.out_dir) / name, because)]

    def artifact(self, key: str) -> Path:
        return self.dir / self.manifest["artifacts"][key]["path"]

    def finish(self, artifacts: dict[str, Path], numbers: dict | None = None, status: str = DONE, note: str = "") -> dict:
        manifest = {
            "stage": self.name,
            "status": status,
            "note": note,
            "fingerprint": self.fingerprint,
            "inputs": self.inputs,
            "artifacts": {k: {"path": str(Path(p).relative_to(self.dir)), "sha256": sha256_file(p),
                              "bytes": Path(p).stat().st_size, "digest": digest_path(p).is_file()}
                          for k, p in artifacts.items()},
            "numbers": numbers or {},
            "versions": versions(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - self.started, 2),
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.manifest_path, manifest)
        if status == DONE:
            (self.dir / STALE_NOTE).unlink(missing_ok=True)
        return manifest


def _recorded_digest(path: Path) -> str | None:
    try:
        return digest_path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
