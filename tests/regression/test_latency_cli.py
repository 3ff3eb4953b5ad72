"""benchmarks/latency.py end to end on the reference model's ONNX file: JSON + PNG, unavailable backends listed."""
import importlib.util
import json
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "latency.py"


def _cli():
    spec = importlib.util.spec_from_file_location("latency_cli", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_on_an_onnx_file(reference, tmp_path):
    out = tmp_path / "lat.json"
    rc = _cli().main(["--model", str(reference["spec"].onnx_fp32), "--backends", "onnxruntime_fp32,pytorch_fp32,tensorrt",
                      "--batch", "1,4", "--runs", "3", "--warmup", "1", "--threads", "1", "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    ort = result["backends"]["onnxruntime_fp32"]
    assert ort["status"] == "ok" and set(ort["batches"]) == {"1", "4"} and ort["model_bytes"] > 0
    # an .onnx alone has no PyTorch weights: said so, no number
    assert result["backends"]["pytorch_fp32"]["status"].startswith("not available: pytorch_fp32 needs PyTorch weights")
    if not torch.cuda.is_available():
        assert result["backends"]["tensorrt"]["status"].startswith("not available: ")
    assert result["model"]["img_size"] == 32
    assert out.with_suffix(".png").stat().st_size > 1000


def test_bad_model_paths_give_one_clear_error(tmp_path, capsys):
    cli = _cli()
    assert cli.main(["--model", str(tmp_path / "missing"), "--backends", "pytorch_fp32", "--batch", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.pth").write_bytes(b"junk")
    assert cli.main(["--model", str(tmp_path / "bad.pth"), "--arch", "swin_nano", "--backends", "pytorch_fp32",
                     "--batch", "1"]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert not list((Path(__file__).resolve().parents[2] / "benchmarks" / "results").glob("*.partial"))


def test_bad_numbers_are_refused_with_the_flag_and_range(tmp_path, capsys):
    """`--batch 0` or `--runs 0` used to end in a traceback inside the timing loop, after the model was loaded."""
    cli = _cli()
    for flag, value, words in (("--batch", "1,0", "0 is out of range: give an integer >= 1"), ("--runs", "0", "an integer >= 1"),
                               ("--max-seconds", "nan", "a number > 0"), ("--warmup", "-1", "an integer >= 0")):
        try:
            cli.main(["--model", str(tmp_path / "missing"), flag, value])
        except SystemExit as stop:
            assert stop.code == 2
        else:
            raise AssertionError(f"{flag} {value} was accepted")
        err = capsys.readouterr().err
        assert f"argument {flag}: " in err and words in err, err
