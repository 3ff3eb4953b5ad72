"""Draw a class-balanced, seeded calibration subset from any labelled dataset."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_swin.errors import DataError


@dataclass
class CalibrationSet:
    indices: list[int]
    seed: int
    class_balanced: bool
    class_counts: dict[int, int] = field(default_factory=dict)
    indices_sha256: str = ""

    @property
    def size(self) -> int:
        return len(self.indices)

    def manifest(self) -> dict:
        """What a stage manifest records: enough to tell whether two runs calibrated on the same images."""
        return {"size": self.size, "seed": self.seed, "class_balanced": self.class_balanced,
                "class_counts": {str(k): v for k, v in sorted(self.class_counts.items())},
                "indices_sha256": self.indices_sha256}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({**asdict(self), "class_counts": self.manifest()["class_counts"]}, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "CalibrationSet":
        data = json.loads(Path(path).read_text())
        data["class_counts"] = {int(k): v for k, v in data["class_counts"].items()}
        return cls(**data)


def dataset_targets(dataset) -> list[int]:
    """Labels of a torchvision-style dataset (ImageFolder, our embedded set, a Subset of either)."""
    if hasattr(dataset, "targets"):
        return [int(t) for t in dataset.targets]
    if hasattr(dataset, "dataset") and hasattr(dataset, "indices"):  # torch.utils.data.Subset
        parent = dataset_targets(dataset.dataset)
        return [parent[i] for i in dataset.indices]
    raise DataError(f"{type(dataset).__name__} has no `targets`: calibration needs labelled ImageFolder-style data")


def draw_calibration_set(dataset, size: int, seed: int = 0, class_balanced: bool = True) -> CalibrationSet:
    """`size` indices of `dataset`; with class_balanced, classes get equal shares (as far as they have images)."""
    targets = np.asarray(dataset_targets(dataset))
    if size <= 0:
        raise DataError(f"calibration size must be positive, got {size}")
    size = min(size, len(targets))
    rng = np.random.default_rng(seed)
    if class_balanced:
        by_class = {c: rng.permutation(np.flatnonzero(targets == c)) for c in np.unique(targets)}
        chosen: list[int] = []
        # Round-robin over classes so a short class gives way to the others instead of shrinking the set.
        depth = 0
        while len(chosen) < size:
            for c in sorted(by_class):
                if depth < len(by_class[c]) and len(chosen) < size:
                    chosen.append(int(by_class[c][depth]))
            depth += 1
        indices = sorted(chosen)
    else:
        indices = sorted(int(i) for i in rng.choice(len(targets), size=size, replace=False))
    counts = Counter(int(targets[i]) for i in indices)
    digest = hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()
    return CalibrationSet(indices, seed, class_balanced, dict(counts), digest)
