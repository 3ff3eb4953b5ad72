"""benchmarks/train_curve.py: measured points kept apart from the estimated quiet-machine minutes."""
import json

import pytest

from benchmarks.train_curve import main


def test_points_and_estimate_from_a_history(tmp_path):
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_top1": 70.0 + e, "val_top5": 99.0, "train_seconds": 300.0,
                "images_per_second": 200.0} for e in (1, 2)]
    (tmp_path / "history.json").write_text(json.dumps(history))
    out = tmp_path / "curve.json"
    assert main(["--run", f"two={tmp_path / 'history.json'}", "--throughput", "1000", "--eval-throughput", "2000",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    points = result["runs"]["two"]["points"]
    assert [p["val_top1"] for p in points] == [71.0, 72.0]
    assert points[0]["measured_images_per_second"] == 200.0  # what the run measured stays as measured
    assert points[1]["estimated_quiet_minutes"] == pytest.approx(2 * (60 + 5) / 60, abs=0.01)  # 60k/1000 + 10k/2000 s
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_an_estimate_needs_a_throughput(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--run", f"x={tmp_path}", "--throughput", "1000"])
    assert "--eval-throughput" in capsys.readouterr().err
