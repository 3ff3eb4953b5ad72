"""`torchrun --nproc_per_node 2 -m pipelines.build` (Gloo, CPU) trains and quantizes like one process, rank 0 writing."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_swin.data import embedded
from edge_swin.data.arrays import ArrayImageDataset
from pipelines.build import main

WORKER = Path(__file__).with_name("torchrun_build.py")


def embedded_slice(root: Path, train_per_class: int, val_per_class: int) -> Path:
    """The first images of each class of the embedded Fashion-MNIST, as an ImageFolder tree."""
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        images, labels = embedded.load_arrays(split)
        keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(embedded.CLASSES))])
        ArrayImageDataset(images[keep], labels[keep], embedded.CLASSES).export_image_folder(root / split)
    return root


@pytest.fixture(scope="module")
def fashion_slice(tmp_path_factory):
    return embedded_slice(tmp_path_factory.mktemp("data") / "fashion-slice", train_per_class=8, val_per_class=2)


def args(data: Path, out: Path) -> list[str]:
    # No stochastic depth: its per-batch draws cannot be equal when a batch is split across processes.
    return ["--data", str(data), "--target", "jetson-orin", "--device", "cpu", "--epochs", "1", "--batch-size", "16",
            "--drop-path", "0", "--calib-size", "20", "--qat-steps", "3", "--max-drop", "100", "--stop-after", "qat",
            "--out", str(out)]


def files(root: Path) -> list[str]:
    """Every file under `root`; the calibration cache's key (a hash of the exact weights) shown as KEY."""
    return sorted(re.sub(r"calib_max_[0-9a-f]{16}", "calib_max_KEY", str(p.relative_to(root)))
                  for p in root.rglob("*") if p.is_file())


def amax(path: Path) -> dict:
    import edge_swin.quant as quant

    return quant.amax_state(quant.load_quantized(path))


@pytest.mark.slow
def test_two_processes_write_what_one_writes_and_only_rank_0_writes(tmp_path, fashion_slice, capsys):
    one, two, logs = tmp_path / "one", tmp_path / "two", tmp_path / "writes"
    assert main(args(fashion_slice, one)) == 0
    logs.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGE_SWIN_DIST_TIMEOUT": "120", "EDGE_SWIN_TEST_WRITES": str(logs)}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(WORKER), *args(fashion_slice, two)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 processes" in run.stdout

    assert files(two) == files(one)
    assert (logs / "rank0.txt").read_text() and (logs / "rank1.txt").read_text() == ""

    trained = [torch.load(d / "train" / "model.pth", weights_only=True)["model"] for d in (one, two)]
    for name, value in trained[0].items():
        torch.testing.assert_close(trained[1][name], value, rtol=1e-4, atol=1e-5, msg=name)
    numbers = [json.loads((d / "train" / "manifest.json").read_text())["numbers"] for d in (one, two)]
    assert numbers[0]["val_top1"] == numbers[1]["val_top1"] and numbers[1]["processes"] == 2

    calibrations = [next((d / "qat" / "calibration").glob("calib_*.pth")) for d in (one, two)]
    a, b = amax(calibrations[0]), amax(calibrations[1])
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-6, msg=name)
    sidecars = [json.loads((d / "qat" / "int8.json").read_text()) for d in (one, two)]
    assert sidecars[0]["format"] == sidecars[1]["format"] and sidecars[0]["config"] == sidecars[1]["config"]


def test_recipe_flags_refuse_bad_values_before_any_stage(capsys, tmp_path):
    for bad, message in ((["--accum-steps", "0"], "argument --accum-steps: 0 is out of range: give an integer >= 1"),
                         (["--mixup", "-1"], "argument --mixup: -1 is out of range: give a number >= 0"),
                         (["--drop-path", "1.5"], "argument --drop-path: 1.5 is out of range: give a number in [0, 1)")):
        with pytest.raises(SystemExit):
            main([*bad, "--out", str(tmp_path / "r")])
        assert message in capsys.readouterr().err
    assert main(["--batch-size", "10", "--accum-steps", "4", "--target", "jetson-orin", "--out", str(tmp_path / "r")]) == 2
    assert "choose a multiple of 4" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
