"""Where the regression baselines live and how to find the one for this machine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_swin.bench import device_id

BASELINES = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines"
RECORD = "python benchmarks/latency.py --record-baseline"


def load_baseline() -> tuple[dict, str]:
    """benchmarks/baselines/<device>.json, else the CPU file we record in CI's class of machine (cpu-2core)."""
    for name in (device_id(), "cpu-2core"):
        path = BASELINES / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text()), name
    pytest.skip(f"no baseline in {BASELINES} for {device_id()}: record one with `{RECORD}`")
