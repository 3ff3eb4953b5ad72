"""Bad numbers and flag combinations on `pipelines.build`'s command line: refused while parsing, one line naming
the flag and the accepted range, nothing written. Each of these used to end in a traceback after `model/` was
written, or to run with a wrong result (no QAT reported as QAT, a NaN limit that fails and exports anyway)."""
from __future__ import annotations

import argparse

import pytest

from edge_swin.models.input_size import fits, input_size_problem, nearest_fitting
from edge_swin.models.registry import VARIANTS
from edge_swin.utils.cli_numbers import COUNT, FRACTION, POSITIVE, Bounded
from pipelines.build import main
from tests.helpers import make_image_folder


def refused(capsys, tmp_path, *argv) -> str:
    """The one error line `main` prints for argv; asserts exit status 2 and that no run folder was made."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        main(["--model", "swin_nano", "--device", "cpu", "--out", str(out), *argv])
    assert stop.value.code == 2
    assert not out.exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("flag,value,range_words", [
    ("--epochs", "-1", "an integer >= 0"),
    ("--batch-size", "0", "an integer >= 1"),
    ("--img-size", "0", "an integer >= 1"),
    ("--window-size", "0", "an integer >= 1"),
    ("--lr", "-1", "a number > 0"),
    ("--lr", "0", "a number > 0"),  # 0 used to mean "the default" silently
    ("--num-workers", "-1", "an integer >= 0"),
    ("--qat-steps", "-1", "an integer >= 0"),
    ("--qat-epochs", "-2", "an integer >= 0"),
    ("--max-drop", "nan", "a number >= 0"),
    ("--max-drop", "-1", "a number >= 0"),
    ("--max-drop", "inf", "a number >= 0"),
    ("--calib-size", "0", "an integer >= 1"),
    ("--threads", "0", "an integer >= 1"),
    ("--drop-path", "1", "a number in [0, 1)"),
    ("--label-smoothing", "nan", "a number in [0, 1)"),
    ("--epochs", "2.5", "an integer >= 0"),
])
def test_a_bad_number_is_refused_with_its_flag_and_range(capsys, tmp_path, flag, value, range_words):
    line = refused(capsys, tmp_path, flag, value)
    assert f"argument {flag}: " in line and value in line and range_words in line, line


def test_an_input_size_that_does_not_give_whole_windows_names_the_nearest_that_do(capsys, tmp_path):
    line = refused(capsys, tmp_path, "--img-size", "36")
    assert "--img-size" in line and "nearest sizes that fit window 4: 32 and 64" in line, line
    line = refused(capsys, tmp_path, "--window-size", "3")  # the variant's 32 px, 8x8 tokens: not whole windows of 3
    assert "window 3" in line and "24 and 48" in line, line


def test_adapt_flags_without_a_checkpoint_are_refused(capsys, tmp_path):
    assert "--adapt-head adapts a checkpoint" in refused(capsys, tmp_path, "--adapt-head")
    assert "give --checkpoint too" in refused(capsys, tmp_path, "--adapt-window")


def test_one_class_is_refused_before_any_stage_writes(capsys, tmp_path):
    data = make_image_folder(tmp_path / "one", classes=("cat",), per_class=2, size=32)
    assert main(["--model", "swin_nano", "--device", "cpu", "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    assert "has 1 class folder (cat): a classifier needs two or more classes" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_help_shows_each_range(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("--epochs INT>=0", "--batch-size INT>=1", "--lr X>0", "--max-drop X>=0", "--drop-path 0<=X<1"):
        assert shown in text


def test_bounded_types():
    assert COUNT("0") == 0 and POSITIVE("1e-5") == 1e-5 and FRACTION("0.5") == 0.5
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            COUNT(bad)
    closed = Bounded(float, 0.0, 1.0)
    assert closed("1") == 1.0 and closed.describe() == "a number in [0, 1]" and closed.metavar == "0<=X<=1"
    with pytest.raises(argparse.ArgumentTypeError, match="not a finite number"):
        closed("nan")


def test_every_registered_variant_fits_its_own_size_and_the_rule_is_the_models():
    for name, config in VARIANTS.items():
        assert input_size_problem(name) is None, name
    # swin_t: 4 px patches, window 7, 4 stages: 224 gives 56, 28, 14, 7 tokens (whole windows); 256 gives 64 (not)
    assert fits(224, 4, 7, 4) and fits(448, 4, 7, 4) and not fits(256, 4, 7, 4) and not fits(230, 4, 7, 4)
    assert fits(256, 4, 8, 4)  # window 8 at 256: 64, 32, 16, 8
    assert fits(64, 4, 4, 4)  # swin_micro: the last 2x2 map is smaller than a window, which shrinks to it
    assert nearest_fitting(230, 4, 7, 4) == [224, 448] and nearest_fitting(3, 4, 4, 2) == [8]
