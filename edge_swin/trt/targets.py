"""The deployment-target table (`targets.toml`) as typed records."""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from edge_swin.errors import TargetError

TABLE = Path(__file__).with_name("targets.toml")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    gpu: str
    sm: int | str
    tensorrt: str
    cuda: str
    flavour: str
    precisions: tuple[str, ...]
    workspace_mib: int
    batch: tuple[int, int, int]
    dla: str
    attention: str
    build_on: str
    hardware_compatibility: str
    version_compatible: bool

    @property
    def is_jetson(self) -> bool:
        return self.build_on == "device"

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def load_targets() -> dict[str, Target]:
    with open(TABLE, "rb") as f:
        table = tomllib.load(f)
    return {name: Target(name=name, **{**row, "precisions": tuple(row["precisions"]), "batch": tuple(row["batch"])})
            for name, row in table.items()}


def target_names() -> list[str]:
    return list(load_targets())


def get_target(name: str) -> Target:
    targets = load_targets()
    if name not in targets:
        raise TargetError(f"unknown target '{name}'. Known targets: {', '.join(targets)}")
    return targets[name]
