"""benchmarks/readme_table.py: docs/benchmarks.md's performance tables come from committed JSON, with
where/when per row."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "benchmarks" / "readme_table.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["readme_table"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_every_table_renders_from_committed_json(readme_table, capsys):
    assert readme_table.main([]) == 0
    out = capsys.readouterr().out
    for table in readme_table.TABLES:
        assert f"**{table.title}**" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and " ms " not in line]
    measured = [r for r in rows if "not available" not in r]
    assert measured and all("2026-" in r and "torch " in r for r in measured)  # device, versions, date on each row


def test_unavailable_backend_gets_no_number(readme_table):
    result = {"header": {"date": "2026-01-01", "cpu": "x", "cpu_cores": 2, "torch_threads": 1,
                         "versions": {"torch": "2.14.1"}},
              "settings": {"batches": [1, 8]},
              "backends": {"tensorrt": {"status": "not available: needs a CUDA GPU"},
                           "onnxruntime_fp32": {"status": "ok", "batches": {
                               "1": {"median_ms": 1.5, "images_per_s": 666.0},
                               "8": {"median_ms": 6.0, "images_per_s": 1333.0}}}}}
    text = readme_table.render(readme_table.TABLES[0], result)
    trt_row = next(line for line in text.splitlines() if line.startswith("| TensorRT engine"))
    assert "not available: needs a CUDA GPU" in trt_row and not any(c.isdigit() for c in trt_row.split("|")[2])
    assert "| ONNX Runtime FP32 | 1.50 | 6.00 | 1,333 |" in text


def test_missing_json_names_the_command(readme_table, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(readme_table, "RESULTS", tmp_path)
    assert readme_table.main([]) == 2
    assert "readme_table.py --run" in capsys.readouterr().err
