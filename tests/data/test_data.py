import numpy as np
import pytest
import torch
from torchvision.datasets import ImageFolder

from calib import CalibrationSet, draw_calibration_set
from edge_swin.data import build_datasets, data_fingerprint, embedded_dataset, eval_transform, image_folder
from edge_swin.data import embedded
from edge_swin.errors import DataError
from tests.helpers import array_dataset, make_image_folder


def test_embedded_dataset_is_real_fashion_mnist():
    train, val = embedded_dataset("train"), embedded_dataset("val")
    assert (len(train), len(val)) == (60000, 10000)
    assert len(train.classes) == 10 and train.class_to_idx["Ankle_boot"] == 9
    assert np.bincount(val.targets).tolist() == [1000] * 10  # the published test split is balanced
    image, label = train[0]
    assert image.size == (28, 28) and image.mode == "RGB" and label == 9  # first training image: an ankle boot
    # Real photos, not noise: dark background, mean brightness as published (~73/255).
    assert 60 < train.images[:1000].mean() < 85


def test_embedded_dataset_through_the_model_transforms():
    train, val = build_datasets(None, 32)
    x, _ = train[0]
    v, _ = val[0]
    assert x.shape == v.shape == (3, 32, 32)
    assert torch.isfinite(x).all()


def test_missing_embedded_dataset_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv(embedded.ROOT_ENV, str(tmp_path))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        embedded_dataset("train")
    with pytest.raises(DataError, match="not installed"):
        data_fingerprint(None)


def test_corrupt_embedded_file(tmp_path, monkeypatch):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"not gzip at all")
    monkeypatch.setenv(embedded.ROOT_ENV, str(tmp_path))
    with pytest.raises(DataError, match="corrupt"):
        embedded_dataset("train")


def test_image_folder_and_its_errors(tmp_path):
    root = make_image_folder(tmp_path / "set")
    train, val = build_datasets(str(root), 32)
    assert train.classes == ["cat", "dog", "fox"] and len(train) == 18 and len(val) == 9
    assert train[0][0].shape == (3, 32, 32)
    with pytest.raises(DataError, match="data folder not found"):
        build_datasets(str(tmp_path / "nope"), 32)
    (tmp_path / "noval" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no 'val' folder"):
        image_folder(tmp_path / "noval", "val")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no usable images"):
        image_folder(tmp_path / "empty", "train")


def test_train_and_val_must_share_classes(tmp_path):
    root = make_image_folder(tmp_path / "set")
    (root / "val" / "fox").rename(root / "val" / "wolf")
    with pytest.raises(DataError, match="different classes"):
        build_datasets(str(root), 32)


def test_eval_transform_is_swins_resize_and_center_crop():
    from PIL import Image

    image = Image.fromarray(np.arange(300 * 400 * 3, dtype=np.uint8).reshape(300, 400, 3) % 251)
    out = eval_transform(224)(image)
    assert out.shape == (3, 224, 224)  # short side -> 256, center crop 224


def test_array_dataset_exports_an_image_folder(tmp_path):
    data = array_dataset(n=10)
    root = data.export_image_folder(tmp_path / "tree")
    again = ImageFolder(str(root))
    assert again.classes == data.classes and len(again) == 10
    position = next(i for i, (path, _) in enumerate(again.samples) if path.endswith("000003.png"))
    image, label = again[position]
    assert np.array_equal(np.asarray(image), data.images[3]) and label == data.targets[3]


def test_calibration_set_is_balanced_and_deterministic(tmp_path):
    data = array_dataset(n=100, num_classes=5)
    a = draw_calibration_set(data, 25, seed=7)
    b = draw_calibration_set(data, 25, seed=7)
    c = draw_calibration_set(data, 25, seed=8)
    assert a.indices == b.indices and a.indices_sha256 == b.indices_sha256
    assert a.indices != c.indices
    assert a.class_counts == {k: 5 for k in range(5)}
    a.save(tmp_path / "calib.json")
    assert CalibrationSet.load(tmp_path / "calib.json") == a
    assert a.manifest()["size"] == 25 and a.manifest()["seed"] == 7


def test_calibration_set_with_a_short_class_still_fills_up():
    data = array_dataset(n=12, num_classes=5)  # class sizes 3,3,2,2,2
    s = draw_calibration_set(data, 11, seed=0)
    assert s.size == 11 and len(set(s.indices)) == 11
    assert max(s.class_counts.values()) - min(s.class_counts.values()) <= 1


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    root = make_image_folder(tmp_path / "set")
    before = data_fingerprint(str(root))
    (root / "train" / "cat" / "0.png").write_bytes(b"changed")
    assert data_fingerprint(str(root))["sha256"] != before["sha256"]
