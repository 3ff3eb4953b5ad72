"""A run folder a deployment engineer can trust after any failure.

Each test reproduces one way a run folder used to end wrong (stale files offered as current, a checkpoint
deleted before its replacement existed, a resume on other data, a corrupted file loaded, a raw traceback
for a full or read-only disk, a stage "up to date" without one of its files, two runs in one folder) on
1-epoch runs of a 36-image folder.
"""
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge_swin.utils.io import sha256_file
from edge_swin.utils.manifest import Stage
from edge_swin.utils.run_lock import RunLock
from pipelines.build import main
from tests.helpers import force_int8_drop, make_image_folder


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=8, size=36)


def build(*args) -> int:
    return main(["--model", "swin_nano", "--batch-size", "8", "--device", "cpu", "--calib-size", "12",
                 "--qat-epochs", "0", "--epochs", "1", *map(str, args)])


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, image_root):
    """A finished run up to the qat stage (PTQ), copied by each test that changes it."""
    out = tmp_path_factory.mktemp("good") / "run"
    assert build("--data", image_root, "--stop-after", "qat", "--max-drop", 100, "--out", out) == 0
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def status(out: Path, stage: str) -> str:
    return json.loads((out / stage / "manifest.json").read_text())["status"]


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_failed_check_leaves_nothing_stale_offered_as_current(capsys, good_run, tmp_path, image_root, monkeypatch):
    out = copy_of(good_run, tmp_path)
    # What an earlier complete run left after the qat stage: ONNX files, the Jetson bundle, its report.
    onnx = out / "export" / "model_int8.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"the earlier run's model")
    Stage(out, "export", {"earlier": True}).finish({"int8": onnx})
    (out / "bundle").mkdir()
    (out / "bundle" / "model_int8.onnx").write_bytes(onnx.read_bytes())
    (out / "report.md").write_text("# edge-swin run: the earlier one\n")
    int8_before = sha256_file(out / "qat" / "int8.pth")

    force_int8_drop(monkeypatch, 5.0)
    assert build("--data", image_root, "--target", "jetson-orin", "--max-drop", 1, "--out", out) == 2
    assert "over the allowed 1.00" in capsys.readouterr().err
    assert status(out, "qat") == "failed" and status(out, "export") == "stale"
    assert (out / "export" / "STALE.txt").is_file() and (out / "qat" / "STALE.txt").is_file()
    assert not (out / "bundle").exists() and (out / "bundle.stale" / "model_int8.onnx").is_file()  # never shipped
    assert sha256_file(out / "qat" / "int8.pth") == int8_before  # the model that failed was not written
    md = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.split("## Stages")[1].splitlines() if line.startswith("| ")}
    assert rows["qat"].startswith("| qat | failed") and rows["export"].startswith("| export | stale: the qat stage")
    assert "do not deploy or compare them" in md
    assert json.loads((out / "report.json").read_text())["stages"]["export"]["status"] == "stale"


def test_interrupted_rerun_keeps_the_checkpoint_and_marks_the_report(capsys, good_run, tmp_path, image_root,
                                                                       monkeypatch):
    out = copy_of(good_run, tmp_path)
    (out / "report.md").write_text("# edge-swin run: the earlier one\n")
    last = out / "train" / "last.pth"
    before = sha256_file(last)

    def interrupted(*args, **kwargs):  # Ctrl-C during the new run's first epoch, before it is saved
        raise KeyboardInterrupt

    monkeypatch.setattr("edge_swin.train.trainer.evaluate_sharded", interrupted)
    assert build("--data", image_root, "--epochs", 2, "--max-drop", 100, "--out", out) == 130
    assert "is kept until this run's first epoch replaces it" in capsys.readouterr().out
    assert last.is_file() and sha256_file(last) == before  # the earlier run's checkpoint is not lost
    assert (out / "report.md").read_text().startswith("> **NOT CURRENT**: the train stage started rebuilding")
    assert status(out, "train") == "stale" and status(out, "qat") == "stale"

    # The earlier command again: its stages are current after all (same inputs, files intact), nothing is redone.
    capsys.readouterr()
    assert build("--data", image_root, "--stop-after", "qat", "--max-drop", 100, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "[train] up to date" in printed and "[qat] up to date" in printed
    assert status(out, "train") == "done" and not list(out.rglob("STALE.txt"))
    assert not (out / "report.md").read_text().startswith("> **NOT CURRENT**")  # rewritten: describes the folder


def test_resume_refuses_other_data_and_a_corrupted_checkpoint(capsys, tmp_path, image_root, monkeypatch):
    data, out = Path(shutil.copytree(image_root, tmp_path / "data")), tmp_path / "run"
    calls = []

    def stop_in_second_epoch(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, *args, **kwargs)

    from edge_swin.train import trainer

    real = trainer.evaluate_sharded
    monkeypatch.setattr(trainer, "evaluate_sharded", stop_in_second_epoch)
    args = ("--data", data, "--epochs", 2, "--stop-after", "train", "--out", out)
    assert build(*args) == 130  # one epoch of two saved in train/last.pth
    monkeypatch.undo()

    extra = data / "train" / "cat" / "extra.png"
    shutil.copyfile(next((data / "train" / "dog").glob("*.png")), extra)
    assert build(*args, "--resume") == 2
    err = capsys.readouterr().err
    assert "cannot resume from" in err and "trained on other inputs (data.files: was 36, now 37" in err, err

    extra.unlink()
    flip_a_byte(out / "train" / "last.pth")
    assert build(*args, "--resume") == 2
    err = capsys.readouterr().err
    assert f"{out / 'train' / 'last.pth'} is corrupted" in err and "to start training over" in err, err
    assert "Traceback" not in err


def test_corrupted_calibration_cache_is_named_not_loaded(capsys, good_run, tmp_path, image_root):
    out = copy_of(good_run, tmp_path)
    (out / "qat" / "manifest.json").unlink()  # no manifest to compare with: the file's own digest decides
    [cache] = (out / "qat" / "calibration").glob("calib_*.pth")
    flip_a_byte(cache)
    assert build("--data", image_root, "--stop-after", "qat", "--max-drop", 100, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"{cache} is corrupted" in err and f"delete {cache} to recalibrate" in err, err


def test_a_deleted_side_file_makes_its_stage_rerun(capsys, good_run, tmp_path, image_root):
    out = copy_of(good_run, tmp_path)
    (out / "qat" / "int8.json").unlink()  # what export needs to rebuild the model from int8.pth
    (out / "train" / "model.pth.sha256").unlink()  # what the qat stage checks train/model.pth against
    assert build("--data", image_root, "--stop-after", "qat", "--max-drop", 100, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "[train] up to date" not in printed and "[qat] up to date" not in printed
    assert (out / "qat" / "int8.json").is_file() and status(out, "qat") == "done"
    assert (out / "train" / "model.pth.sha256").is_file() and status(out, "train") == "done"


def test_a_second_run_on_the_same_folder_stops_and_a_dead_ones_lock_is_taken_over(capsys, tmp_path, image_root):
    out = tmp_path / "run"
    with RunLock(out, "python -m pipelines.build --out run (the first)"):
        assert build("--data", image_root, "--stop-after", "model", "--out", out) == 2
    printed, err = capsys.readouterr()
    assert "images checked" not in printed  # stopped at once, before the image check
    assert f"{out} is in use by another run (pid {os.getpid()} on {socket.gethostname()}, started " in err
    assert "python -m pipelines.build --out run (the first)" in err and not (out / "model").exists()
    assert not out.exists()  # the first run made the folder and wrote nothing in it: it leaves none behind

    out.mkdir()

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    (out / ".lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "earlier",
                                           "command": "killed -9"}))
    assert build("--data", image_root, "--stop-after", "model", "--out", out) == 0
    assert f"took over the lock of a run that is no longer running (pid {dead} on" in capsys.readouterr().out
    assert not (out / ".lock").exists()


def test_full_disk_is_one_message_and_a_rerun_completes(capsys, tmp_path, image_root, monkeypatch):
    import torch

    out = tmp_path / "run"
    real_save = torch.save

    def disk_full(obj, path, *args, **kwargs):  # what torch.save raises when the disk fills mid-write
        Path(path).write_bytes(b"PK\x03\x04 half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", disk_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))
    args = ("--data", image_root, "--stop-after", "train", "--out", out)
    assert build(*args) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out / 'model' / 'model.pth'}: the disk is full" in err and "Traceback" not in err, err
    assert not list(out.rglob("*.partial")) and not (out / "model" / "model.pth").exists()

    monkeypatch.setattr(torch, "save", real_save)
    real_write_text = Path.write_text

    def no_space(self, *args, **kwargs):  # OSError 28 from a JSON side file
        if self.name.startswith(".history.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", no_space)
    assert build(*args) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out / 'train'}/.history.json." in err and "No space left on device; the disk is full" in err
    assert "Traceback" not in err and not list(out.rglob("*.partial"))
    assert not (out / "train" / "manifest.json").exists()  # the stage is not done: a rerun redoes it
    monkeypatch.undo()
    assert build(*args) == 0 and status(out, "train") == "done"


def test_read_only_out_is_one_message(capsys, tmp_path, image_root, monkeypatch):
    out = tmp_path / "run"
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # root ignores chmod: the file system's answer, simulated
        if str(self).startswith(str(out)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert build("--data", image_root, "--stop-after", "model", "--out", out) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"error: cannot write {out}: Read-only file system; the file system is read-only: give "
                           "--out on a writable one, then rerun (nothing half-written was kept)")
