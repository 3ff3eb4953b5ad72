"""Progress bars only on a terminal: a log file gets one line per epoch, not hundreds of carriage returns."""
import io
import os
import subprocess
import sys
from pathlib import Path

from edge_swin.utils.progress import progress, progress_enabled, set_progress
from pipelines.build import parse_args

ROOT = Path(__file__).resolve().parents[2]

# 3 epochs of 4 batches each, on a dataset served image by image (the DataLoader path) and as whole batches.
TRAIN_SCRIPT = """
import numpy as np, torch
from edge_swin.data import ArrayImageDataset
from edge_swin.data.transforms import eval_transform, train_batch_recipe
from edge_swin.models import create_swin
from edge_swin.train import TrainConfig, train
images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 3), dtype=np.uint8)
recipe = train_batch_recipe(32, "small") if {batches} else None
data = ArrayImageDataset(images, np.arange(32) % 4, list("abcd"), eval_transform(32, 1.0), batch_recipe=recipe)
torch.manual_seed(0)
train(create_swin("swin_nano", num_classes=4), data, data, TrainConfig(epochs=3, batch_size=8), {out!r})
"""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_show_on_a_terminal_only_and_not_after_no_progress():
    assert not progress_enabled(io.StringIO())
    assert progress_enabled(FakeTerminal())
    try:
        set_progress(False)
        assert not progress_enabled(FakeTerminal())
        bar = progress(range(3), file=FakeTerminal())
        assert bar.disable and list(bar) == [0, 1, 2]  # a hidden bar still iterates and takes updates
        bar.set_postfix(loss=1.0)
    finally:
        set_progress(True)
    assert progress(range(3), file=FakeTerminal(), disable=True).disable  # the caller's own switch holds
    assert parse_args(["--no-progress"]).no_progress and not parse_args([]).no_progress


def test_training_logged_to_a_file_writes_one_line_per_epoch(tmp_path):
    for batches in (False, True):
        log = tmp_path / f"train-{batches}.log"
        script = TRAIN_SCRIPT.format(batches=batches, out=str(tmp_path / f"run-{batches}"))
        with log.open("w") as f:  # stdout and stderr to a file, as under nohup or in CI
            # One thread: two on a busy 2-core machine slow torch down tenfold.
            subprocess.run([sys.executable, "-c", script], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=True,
                           timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        text = log.read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        assert "\r" not in text, text[:500]
        assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], text
