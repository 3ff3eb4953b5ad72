"""Stage bookkeeping: one folder a stage, a JSON manifest, skip when the inputs have not changed.

A stage's inputs (settings plus the hashes of the artifacts it reads) are hashed
into a fingerprint. The manifest is written last, atomically, after every
artifact is in place, so a folder without a manifest (or with one of another
fingerprint, or whose artifacts no longer hash the same) is simply redone.
"""
from __future__ import annotations

import datetime as dt
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_swin.utils.io import sha256_file, sha256_json, write_json

MANIFEST = "manifest.json"
DONE, NOT_BUILT, SKIPPED = "done", "not_built", "skipped"


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
        self.fingerprint = sha256_json(self.inputs)

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
        """True when a finished run of this stage had the same inputs and its artifacts are intact."""
        if not self.manifest_path.is_file():
            return False
        try:
            manifest = self.manifest
        except json.JSONDecodeError:
            return False
        if manifest.get("fingerprint") != self.fingerprint or manifest.get("status") != DONE:
            return False
        for art in manifest.get("artifacts", {}).values():
            path = self.dir / art["path"]
            if not path.is_file() or sha256_file(path) != art["sha256"]:
                return False
        return True

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
                              "bytes": Path(p).stat().st_size} for k, p in artifacts.items()},
            "numbers": numbers or {},
            "versions": versions(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - self.started, 2),
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.manifest_path, manifest)
        return manifest
