"""The image check sees what the data loader reads: links to folders followed the same way (loops refused), and
pixels converted to RGB the same way (16-bit grey scaled, not clipped; what cannot be converted named).

Before: the check walked with rglob (links to folders not followed) while ImageFolder followed them, so a link
loop multiplied a class about 40 times and a truncated image behind a link passed the check, then ended training
in a traceback; 16-bit grey was clipped to white.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from edge_swin.data import check_images, data_fingerprint
from edge_swin.data.folder import image_folder
from edge_swin.errors import DataError
from edge_swin.utils.rgb import PixelModeError, load_rgb, to_rgb
from pipelines.build import main
from tests.helpers import make_image_folder


@pytest.fixture
def photos(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the check's cache, private to the test
    return make_image_folder(tmp_path / "photos", classes=("cat", "dog"), per_class=2, size=16)


def test_a_link_loop_is_refused_by_the_check_the_loader_and_the_run(photos, tmp_path, capsys):
    os.symlink("..", photos / "train" / "cat" / "again")  # train/cat/again -> train: the loader read it ~40 times
    for attempt in (lambda: check_images(photos, progress=False), lambda: image_folder(photos, "train")):
        with pytest.raises(DataError, match="again \\(a link to \\.\\.\\) is a symbolic-link loop"):
            attempt()
    out = tmp_path / "run"
    assert main(["--model", "swin_nano", "--device", "cpu", "--data", str(photos), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "symbolic-link loop" in err and "Remove the link" in err and "Traceback" not in err
    assert not out.exists()


def test_an_image_behind_a_link_is_checked_and_loaded_alike(photos, tmp_path):
    elsewhere = tmp_path / "more_cats"
    elsewhere.mkdir()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(elsewhere / "red.png")
    whole = (elsewhere / "red.png").read_bytes()
    (elsewhere / "cut.png").write_bytes(whole[: len(whole) // 2])
    os.symlink(elsewhere, photos / "train" / "cat" / "more")
    os.symlink(tmp_path / "gone.png", photos / "train" / "dog" / "dangling.png")  # a broken link: read, and fails

    check = check_images(photos, progress=False)
    train, val = image_folder(photos, "train"), image_folder(photos, "val")
    assert check.checked == len(train) + len(val) == 4 + 3 + 4  # 2 + 2 own, the 2 behind the link, the broken link
    assert sorted(check.bad) == [os.path.join("train", "cat", "more", "cut.png"), os.path.join("train", "dog", "dangling.png")]
    assert check.bad[os.path.join("train", "dog", "dangling.png")].startswith("FileNotFoundError")
    kept = image_folder(photos, "train", exclude=check.bad_paths)  # --skip-bad-images: the loader drops exactly these
    assert [os.path.relpath(p, photos) for p, _ in kept.samples] == [
        os.path.join("train", "cat", f) for f in ("0.png", "1.png", os.path.join("more", "red.png"))] + [
        os.path.join("train", "dog", f) for f in ("0.png", "1.png")]

    before = data_fingerprint(str(photos))["sha256"]  # a file changed behind the link changes the fingerprint
    Image.new("RGB", (17, 16)).save(elsewhere / "red.png")
    assert data_fingerprint(str(photos))["sha256"] != before


def test_two_links_to_one_folder_are_refused(photos):
    os.symlink(photos / "train" / "dog", photos / "train" / "cat" / "dogs_too")  # dog's images labelled cat as well
    same = "cat/dogs_too \\(a link to .*train/dog\\) is the same folder as .*train/dog: its images would be read twice"
    with pytest.raises(DataError, match=same):
        image_folder(photos, "train")


def grey16(values) -> Image.Image:
    return Image.fromarray(np.asarray(values, np.uint16).reshape(1, -1))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    image = grey16([0, 257, 128 * 257, 65535])
    assert image.mode == "I;16"
    assert np.asarray(image.convert("RGB"))[0, :, 0].tolist() == [0, 255, 255, 255]  # what the loader did before
    assert np.asarray(to_rgb(image))[0, :, 0].tolist() == [0, 1, 128, 255]
    image.save(tmp_path / "depth.png")
    loaded = load_rgb(str(tmp_path / "depth.png"))
    assert loaded.mode == "RGB" and np.asarray(loaded)[0, :, 1].tolist() == [0, 1, 128, 255]
    image.save(tmp_path / "depth.pgm")  # 16-bit PGM: Pillow's 32-bit "I" mode, holding 16-bit samples
    assert Image.open(tmp_path / "depth.pgm").mode == "I"
    assert np.asarray(load_rgb(str(tmp_path / "depth.pgm")))[0, :, 2].tolist() == [0, 1, 128, 255]
    Image.fromarray(np.asarray([[0, 70000]], np.int32)).save(tmp_path / "counts.tiff")  # 32-bit: no known scale
    with pytest.raises(PixelModeError, match="32-bit integer pixels \\(mode I"):
        load_rgb(str(tmp_path / "counts.tiff"))


def test_pixels_without_an_8_bit_scale_are_bad_and_lossy_conversions_are_named(photos, capsys):
    cat = photos / "train" / "cat"
    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(cat / "depth.tiff")  # mode F: no 8-bit scale
    Image.fromarray(np.zeros((16, 16, 4), np.uint8), "RGBA").save(cat / "cutout.png")
    palette = Image.new("P", (16, 16))
    palette.save(cat / "sprite.png", transparency=0)
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cat / "print.jpg")
    with pytest.raises(PixelModeError, match="floating-point pixels \\(mode F\\)"):
        to_rgb(Image.open(cat / "depth.tiff"))

    check = check_images(photos, progress=False, notify=print)
    assert list(check.bad) == [os.path.join("train", "cat", "depth.tiff")]
    assert check.bad[os.path.join("train", "cat", "depth.tiff")].startswith("PixelModeError: floating-point pixels")
    assert sorted(check.converted) == [os.path.join("train", "cat", f) for f in ("cutout.png", "print.jpg", "sprite.png")]
    line = capsys.readouterr().out
    assert line.startswith("[data] 3 image(s) lose something in the conversion to RGB") and "CMYK" in line
    again = check_images(photos, progress=False, notify=print)  # from the cache: named again
    assert again.from_cache and again.converted == check.converted and "3 image(s)" in capsys.readouterr().out


def test_the_engine_apps_read_sixteen_bit_grey_as_training_does():
    from edge_swin.trt.preprocess import SidecarTransform

    transform = SidecarTransform({"img_size": 4, "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3})
    image = Image.fromarray((np.arange(16, dtype=np.uint16) * 4000).reshape(4, 4))
    np.testing.assert_array_equal(transform(image), transform(to_rgb(image)))
    assert transform(image).max() < 1.0  # clipped, most pixels would be white (1.0 after this normalisation)


def test_without_links_the_loader_reads_what_torchvision_reads(photos):
    from torchvision.datasets import ImageFolder

    (photos / "train" / "cat" / "deeper").mkdir()
    Image.new("RGB", (16, 16)).save(photos / "train" / "cat" / "deeper" / "0.png")
    ours, theirs = image_folder(photos, "train"), ImageFolder(str((photos / "train").resolve()))
    assert ours.samples == theirs.samples and ours.classes == theirs.classes


def test_a_link_outside_the_splits_is_fingerprinted_once_and_not_refused(photos):
    os.symlink(photos / "train", photos / "latest")  # the loader never reads it: no refusal, no loop
    os.symlink("..", photos / "train" / "cat" / "again")
    fingerprint = data_fingerprint(str(photos))  # terminates: a folder reached again is not entered again
    assert fingerprint["files"] == 4 + 4  # train's and val's images, each once
    with pytest.raises(DataError, match="symbolic-link loop"):
        check_images(photos, progress=False)
