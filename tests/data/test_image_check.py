"""A user's ImageFolder with a truncated JPEG and a stray text file: found before training, listed, skippable."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from edge_swin.data import BadImagesError, build_datasets, check_images
from edge_swin.data.image_check import decode_error
from pipelines.build import main, parse_args

# (class, file name, PIL mode, size): PNG and JPEG, odd sizes, grey, colour and with alpha.
IMAGES = [("cat", "a.png", "L", (37, 23)), ("cat", "b.jpg", "RGB", (45, 61)), ("cat", "c.png", "RGBA", (33, 33)),
          ("dog", "d.jpg", "L", (29, 51)), ("dog", "e.png", "RGB", (64, 35)), ("dog", "f.png", "RGBA", (41, 39))]


def make_messy_folder(root):
    """root/{train,val}/{cat,dog}/... plus train/cat/broken.jpg (cut in half) and train/dog/notes.txt."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls, name, mode, (w, h) in IMAGES:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
            pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(root / split / cls / name)
    whole = (root / "train" / "cat" / "b.jpg").read_bytes()
    (root / "train" / "cat" / "broken.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "train" / "dog" / "notes.txt").write_text("labelled by Kim, 2026-11\n")
    return root


@pytest.fixture
def messy(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the check's cache, private to the test
    return make_messy_folder(tmp_path / "photos")


def test_decode_error_catches_what_verify_alone_misses(messy):
    broken = messy / "train" / "cat" / "broken.jpg"
    with Image.open(broken) as image:
        image.verify()  # PIL's verify() passes the truncated JPEG: the decode is what catches it
    assert decode_error(broken).startswith("OSError: image file is truncated")
    assert decode_error(messy / "train" / "cat" / "c.png") is None
    fake = messy / "fake.png"
    fake.write_text("not a picture")
    assert decode_error(fake) == "UnidentifiedImageError: cannot identify image file 'fake.png'"


def test_check_lists_the_bad_image_and_the_non_image_and_is_cached(messy):
    check = check_images(messy, progress=False)
    assert check.checked == 13  # 12 good images + broken.jpg; notes.txt is not an image
    assert list(check.bad) == [os.path.join("train", "cat", "broken.jpg")]
    assert check.non_images == [os.path.join("train", "dog", "notes.txt")]
    assert check.summary() == {"images_checked": 13, "bad_images": 1, "non_image_files": 1}
    message = str(check.error())
    assert "1 of 13 images under" in message and "train/cat/broken.jpg: OSError: image file is truncated" in message
    assert "--skip-bad-images" in message
    assert json.loads(check.cache_path.read_text())["bad"] == check.bad

    again = check_images(messy, progress=False)
    assert again.from_cache and again.bad == check.bad
    (messy / "train" / "cat" / "broken.jpg").write_bytes((messy / "train" / "cat" / "b.jpg").read_bytes())  # fixed
    fixed = check_images(messy, progress=False)
    assert not fixed.from_cache and fixed.bad == {}


def test_a_long_list_is_cut_and_points_to_the_full_one(tmp_path):
    from edge_swin.data.image_check import ImageCheck

    check = ImageCheck(tmp_path, 100, {f"train/c/{i:02d}.jpg": "OSError: image file is truncated" for i in range(25)},
                       cache_path=tmp_path / "full.json")
    error = check.error()
    assert isinstance(error, BadImagesError)
    lines = str(error).splitlines()
    assert lines[0].startswith("25 of 100 images") and len(lines) == 1 + 20 + 1 + 1
    assert lines[21] == f"  ... and 5 more (all listed in {tmp_path / 'full.json'})"


def test_excluded_images_are_left_out_of_the_dataset(messy):
    check = check_images(messy, progress=False)
    train, val = build_datasets(str(messy), 32, exclude=check.bad_paths)
    assert len(train) == 6 and len(val) == 6 and train.classes == ["cat", "dog"]
    for i in range(len(train)):  # every mode and size comes out as a [3, 32, 32] tensor
        assert train[i][0].shape == (3, 32, 32)
    assert len(build_datasets(str(messy), 32)[0]) == 7  # without the exclusion broken.jpg would be loaded


def build(*args) -> int:
    return main(["--model", "swin_nano", "--device", "cpu", "--target", "rtx", *map(str, args)])


def test_the_run_stops_before_writing_with_the_list(messy, tmp_path, capsys):
    out = tmp_path / "run"
    assert build("--data", messy, "--epochs", 1, "--out", out) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "train/cat/broken.jpg: OSError: image file is truncated" in captured.err
    assert "rerun with --skip-bad-images" in captured.err
    assert "1 file(s) in the class folders are not images (by suffix) and are skipped: train/dog/notes.txt" in captured.out
    assert not out.exists()


def test_skip_bad_images_trains_one_step_and_counts_them(messy, tmp_path, capsys):
    from edge_swin.trt import get_target
    from pipelines.stages import model, train
    from pipelines.stages.context import RunContext
    from pipelines.stages.report import to_markdown

    args = parse_args(["--model", "swin_nano", "--device", "cpu", "--data", str(messy), "--skip-bad-images",
                       "--epochs", "1", "--batch-size", "8"])  # 6 training images: one step
    ctx = RunContext(args, get_target("rtx"), tmp_path / "run")
    ctx.epochs, ctx.lr = 1, 1e-3
    model.run(ctx)
    train.run(ctx)
    assert "--skip-bad-images: 1 unreadable image(s) left out: train/cat/broken.jpg" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "run" / "train" / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["numbers"]["epochs"] == 1
    assert manifest["inputs"]["data"]["image_check"] == {"images_checked": 13, "bad_images": 1, "non_image_files": 1}
    md = to_markdown({"model": "m", "target": ctx.target.as_dict(), "created": "-", "command": "-",
                      "data": ctx.data_info, "device": "cpu", "stages": {}, "versions": {}})
    line = next(x for x in md.splitlines() if x.startswith("- data: photos"))
    assert line.endswith("13 images checked, 1 unreadable left out (--skip-bad-images), 1 non-image files skipped")
