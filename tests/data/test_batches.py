"""The whole-batch data path of in-memory datasets gives what the per-image transforms give."""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from edge_swin.data import ArrayImageDataset, data_loader
from edge_swin.data.transforms import eval_batch_recipe, eval_transform, train_batch_recipe, train_transform
from edge_swin.models import create_swin
from edge_swin.train import TrainConfig, train

SIZE = 32


def arrays_dataset(n=40, transform=None, recipe=None, seed=0, side=28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    return ArrayImageDataset(images, np.arange(n) % 4, ["a", "b", "c", "d"], transform, batch_recipe=recipe)


def test_eval_batches_equal_the_per_image_transform():
    for crop_pct in (1.0, 0.875):
        data = arrays_dataset(transform=eval_transform(SIZE, crop_pct), recipe=eval_batch_recipe(SIZE, crop_pct))
        batches = list(data_loader(data, 16))
        assert [len(b[1]) for b in batches] == [16, 16, 8]  # DataLoader's batch count, short last batch
        images = torch.cat([b[0] for b in batches])
        reference = torch.stack([data[i][0] for i in range(len(data))])
        assert images.shape == reference.shape == (40, 3, SIZE, SIZE)
        assert torch.allclose(images, reference, atol=1e-5)
        assert torch.cat([b[1] for b in batches]).tolist() == data.targets


def test_train_batches_are_padded_crops_and_flips_of_the_per_image_pixels():
    recipe = train_batch_recipe(SIZE, "small")
    data = arrays_dataset(n=64, transform=train_transform(SIZE, "small"), recipe=recipe)
    torch.manual_seed(0)
    images, labels = next(iter(data_loader(data, 64, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert sorted(labels.tolist()) == sorted(data.targets)  # a permutation of the whole set
    mean, std = torch.tensor(recipe.mean).view(3, 1, 1), torch.tensor(recipe.std).view(3, 1, 1)
    pixels = (images * std + mean) * 255  # back to the uint8 values the crop and flip moved
    drawn = torch.randperm(64, generator=torch.Generator().manual_seed(0))  # the order the loader drew
    pad, offsets, flips = recipe.pad, set(), 0
    for image, i in zip(pixels, drawn.tolist()):
        # The per-image path's deterministic part (PIL resize), zero-padded as RandomCrop(padding) pads.
        source = torch.from_numpy(np.array(recipe.geometry(Image.fromarray(data.images[i])))).permute(2, 0, 1)
        padded = F.pad(source.float(), (pad,) * 4)
        found = [(dy, dx, flip) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for flip in (False, True)
                 if torch.allclose(image, (lambda c: c.flip(-1) if flip else c)(padded[:, dy:dy + SIZE, dx:dx + SIZE]),
                                   atol=1e-3)]
        assert found, f"image {i} is no padded crop of its source"
        offsets.add(found[0][:2])
        flips += found[0][2]
    assert len(offsets) > 10 and 16 < flips < 48  # offsets and flips are drawn per image


def test_same_seed_same_batches_and_fallback_to_a_dataloader():
    data = arrays_dataset(recipe=train_batch_recipe(SIZE, "small"), transform=train_transform(SIZE, "small"))
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        runs.append(torch.cat([b[0] for b in data_loader(data, 16, shuffle=True, generator=torch.Generator().manual_seed(5))]))
    assert torch.equal(runs[0], runs[1])
    plain = arrays_dataset(transform=eval_transform(SIZE, 1.0))  # no batch recipe: torch's DataLoader
    assert isinstance(data_loader(plain, 16), DataLoader)
    assert train_batch_recipe(SIZE, "imagenet") is None  # RandAugment & co. have no batch form: per image


def test_training_on_batches_resumes_exactly(tmp_path):
    def dataset(seed):
        return arrays_dataset(n=32, seed=seed, transform=train_transform(SIZE, "small"), recipe=train_batch_recipe(SIZE, "small"))

    config = TrainConfig(epochs=2, batch_size=8, lr=2e-3, seed=3)
    train_set, val_set = dataset(0), dataset(1)

    def fresh():
        torch.manual_seed(0)
        return create_swin("swin_nano", num_classes=4)

    reference = fresh()
    train(reference, train_set, val_set, config, tmp_path / "straight")

    class Stop(Exception):
        pass

    def stop(epoch, step):
        if epoch == 1 and step == 1:
            raise Stop

    try:
        train(fresh(), train_set, val_set, config, tmp_path / "broken", on_step=stop)
    except Stop:
        pass
    resumed = fresh()
    train(resumed, train_set, val_set, config, tmp_path / "broken", resume=True)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_index_batches_augment_each_image_from_its_seed_not_its_batch():
    from edge_swin.data import index_loader
    from edge_swin.train.batches import IndexBatches, MicroBatch, SeededSamples

    data = arrays_dataset(n=24, transform=train_transform(SIZE, "small"), recipe=train_batch_recipe(SIZE, "small"))
    seeded = SeededSamples(data, epoch_seed=7)

    def images(chunks):
        loader = index_loader(seeded, IndexBatches([MicroBatch(c, len(c)) for c in chunks]))
        assert not isinstance(loader, DataLoader)  # the whole-batch path
        out = {}
        for chunk, (batch, labels) in zip(chunks, loader):
            assert labels.tolist() == [data.targets[i] for i in chunk]
            out.update(zip(chunk, batch))
        return out

    whole = images([list(range(24))])
    split = images([[5, 0, 17], list(range(6, 17)), [23, 1, 2, 3, 4], list(range(18, 23))])  # other batches, orders
    assert all(torch.equal(whole[i], split[i]) for i in range(24))
    seeded.epoch_seed = 8  # another epoch: other draws
    assert sum(not torch.equal(whole[i], images([list(range(24))])[i]) for i in range(24)) > 12


def test_trainer_takes_the_batch_path_with_exact_epoch_boundaries(monkeypatch, tmp_path):
    from edge_swin.data import batches

    served = []
    original = batches.IndexBatchLoader.__iter__

    def spy(self):
        for item in original(self):
            served.append(len(item[1]))
            yield item

    monkeypatch.setattr(batches.IndexBatchLoader, "__iter__", spy)
    train_set = arrays_dataset(n=20, transform=train_transform(SIZE, "small"), recipe=train_batch_recipe(SIZE, "small"))
    val_set = arrays_dataset(n=8, seed=1, transform=eval_transform(SIZE, 1.0), recipe=eval_batch_recipe(SIZE, 1.0))
    torch.manual_seed(0)
    train(create_swin("swin_nano", num_classes=4), train_set, val_set, TrainConfig(epochs=1, batch_size=8, seed=1),
          tmp_path)
    assert served == [8, 8, 4]  # exact epoch boundary: 20 images in global batches of 8
