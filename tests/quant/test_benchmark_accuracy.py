"""benchmarks/accuracy.py end to end on a tiny ImageFolder: JSON and PNG written, exit code follows max-drop."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import force_int8_drop

ROOT = Path(__file__).resolve().parents[2]


def _image_folder(root: Path, classes=("a", "b", "c"), per_class=(6, 3)) -> Path:
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val"), per_class):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy", ROOT / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_accuracy_benchmark_writes_json_and_png(bench, quant, tmp_path, monkeypatch):
    data = _image_folder(tmp_path / "data")
    out = tmp_path / "out" / "acc.json"
    args = ["--data", str(data), "--model", "swin_nano", "--calib-size", "9", "--batch-size", "9",
            "--qat-epochs", "1", "--qat-steps", "1", "--workdir", str(tmp_path / "work"), "--out", str(out)]
    code = bench.main(args + ["--max-drop", "100"])
    assert code == 0
    record = json.loads(out.read_text())
    assert set(record["report"]["models"]) == {"fp32", "ptq", "qat"}
    assert record["calibration"]["calibration_set"]["size"] == 9
    assert record["settings"]["data"] == str(data)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # rerun (PTQ only): calibration comes from the cache; a drop over the limit fails after writing the files
    force_int8_drop(monkeypatch, 5.0)
    out.unlink()
    assert bench.main(args + ["--qat-epochs", "0", "--max-drop", "1"]) == 1
    record = json.loads(out.read_text())
    assert record["calibration"]["from_cache"] is True
    assert record["report"]["checked"] == "ptq" and record["report"]["passed"] is False


def test_a_negative_or_nan_limit_is_refused(bench, capsys):
    for value in ("-1", "nan"):
        with pytest.raises(SystemExit):
            bench.parse_args(["--max-drop", value])
        assert "argument --max-drop: " in capsys.readouterr().err
