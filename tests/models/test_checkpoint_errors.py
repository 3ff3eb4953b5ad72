"""Every way a checkpoint (or an input, or a model name) can be wrong ends in one clear EdgeSwinError.

Small variants only (swin_micro / swin_nano): each model builds in a fraction of a second.
"""
from __future__ import annotations

import copy
import random

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer as TimmSwin

from edge_swin.errors import CheckpointError, EdgeSwinError
from edge_swin.models import ALIASES, VARIANTS, create_swin, list_models, load_checkpoint, model_config, resolve_name

MICRO = resolve_name("swin_micro")
NANO = resolve_name("swin_nano")


def _arch(name: str) -> str:
    """How the error message describes a variant's depths and width."""
    config = model_config(name)
    return f"embed_dim {config['embed_dim']}", "depths " + "-".join(map(str, config["depths"]))


def _timm_source(name: str, seed: int, **overrides) -> TimmSwin:
    """A seeded timm model of one of our variants: the 'someone else trained it' side of a checkpoint."""
    torch.manual_seed(seed)
    return TimmSwin(**model_config(name, **overrides)).eval()


def _snapshot(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_state_equal(actual: dict, expected: dict, keys=None):
    keys = expected.keys() if keys is None else keys
    for k in keys:
        assert torch.equal(actual[k], expected[k]), k


@pytest.fixture(scope="module")
def _micro_template():
    torch.manual_seed(10)
    return create_swin("swin_micro").eval()


@pytest.fixture(scope="module")
def _nano_template():
    torch.manual_seed(11)
    return create_swin("swin_nano").eval()


@pytest.fixture
def micro(_micro_template):
    """A fresh create_swin('swin_micro') (a copy: building one per test costs most of this file's time)."""
    return copy.deepcopy(_micro_template)


@pytest.fixture
def nano(_nano_template):
    return copy.deepcopy(_nano_template)


@pytest.fixture(scope="module")
def micro_state():
    return _timm_source("swin_micro", seed=0).state_dict()


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ckpt")


@pytest.fixture(scope="module")
def micro_file(ckpt_dir, micro_state):
    path = ckpt_dir / "micro.pth"
    torch.save(micro_state, path)
    return path


@pytest.fixture(scope="module")
def micro_safetensors(ckpt_dir, micro_state):
    path = ckpt_dir / "micro.safetensors"
    save_file(micro_state, str(path))
    return path


# ---------------------------------------------------------------- wrong architecture

def test_wrong_variant_names_expected_and_found_shapes(nano, micro_file, micro_state):
    before = _snapshot(nano)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(nano, micro_file)
    msg = str(info.value)
    assert NANO in msg and str(micro_file) in msg
    key = "patch_embed.proj.weight"
    expected, found = tuple(before[key].shape), tuple(micro_state[key].shape)
    assert expected != found
    assert f"{key}: model expects {expected}, checkpoint has {found}" in msg
    assert _arch("swin_micro") != _arch("swin_nano")
    for part in _arch("swin_micro") + _arch("swin_nano"):  # both architectures described
        assert part in msg, part
    _assert_state_equal(nano.state_dict(), before)  # nothing was half-loaded


@pytest.mark.parametrize("extra_blocks", [1, -1], ids=["deeper-model", "shallower-model"])
def test_wrong_depths_are_named(micro_file, extra_blocks):
    config = model_config("swin_micro")
    depths = tuple(config["depths"])
    last = len(depths) - 1
    model_depths = (*depths[:-1], depths[-1] + extra_blocks)
    model = create_swin("swin_micro", depths=model_depths)
    before = _snapshot(model)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, micro_file)
    msg = str(info.value)
    arch = f"embed_dim {config['embed_dim']}, patch {config['patch_size']}, 3 input channels, depths "
    assert "model:      " + arch + "-".join(map(str, model_depths)) in msg
    assert "checkpoint: " + arch + "-".join(map(str, depths)) in msg
    if extra_blocks > 0:  # the model's extra block has no weights in the file
        assert f"missing from the checkpoint, e.g. layers.{last}.blocks.{depths[-1]}." in msg
    else:  # the file's last block has nowhere to go
        assert f"the model does not have, e.g. layers.{last}.blocks.{depths[-1] - 1}." in msg
    assert "Pick the model variant" in msg
    _assert_state_equal(model.state_dict(), before)


def test_wrong_window_names_bias_table_shapes(micro_file, micro_state):
    config = model_config("swin_micro")
    window = config["window_size"] // 2
    model = create_swin("swin_micro", window_size=window)
    key = "layers.0.blocks.0.attn.relative_position_bias_table"
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, micro_file)
    expected = tuple(model.state_dict()[key].shape)
    assert expected == ((2 * window - 1) ** 2, config["num_heads"][0])
    assert f"{key}: model expects {expected}, checkpoint has {tuple(micro_state[key].shape)}" in str(info.value)


def test_unexpected_extra_tensor_is_rejected(micro, ckpt_dir, micro_state):
    path = ckpt_dir / "extra.pth"
    torch.save({**micro_state, "extra_proj.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match=r"does not have, e\.g\. extra_proj\.weight"):
        load_checkpoint(micro, path)


# ---------------------------------------------------------------- unreadable files

def _corrupt_files(directory, micro_file, micro_safetensors):
    rng = random.Random(0)
    good_pth, good_st = micro_file.read_bytes(), micro_safetensors.read_bytes()
    contents = {
        "random.pth": rng.randbytes(4096),
        "random.safetensors": rng.randbytes(4096),
        "truncated.pth": good_pth[: len(good_pth) // 2],
        "truncated.safetensors": good_st[: len(good_st) // 2],
        "empty.pth": b"",
        "text.pth": b"this is not a checkpoint\n",
    }
    paths = []
    for name, data in contents.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_corrupt_files_raise_checkpoint_error(micro, ckpt_dir, micro_file, micro_safetensors):
    for path in _corrupt_files(ckpt_dir, micro_file, micro_safetensors):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(micro, path)
        msg = str(info.value)
        assert "corrupt" in msg and str(path) in msg, (path.name, msg)


@pytest.mark.parametrize("name", ["does_not_exist.pth", "does_not_exist.safetensors", "."])
def test_missing_path_raises_not_found(micro, tmp_path, name):
    path = tmp_path / name
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(micro, path)


@pytest.mark.parametrize(
    "payload, type_name",
    [
        ([torch.zeros(3), torch.ones(3)], "list"),
        (torch.zeros(3, 3), "Tensor"),
        ({"epoch": 3, "lr": 0.1}, "dict"),
        ({}, "dict"),
        ({"model": {}}, "dict"),
        ({"state_dict": [torch.zeros(1)]}, "dict"),
    ],
    ids=["list", "tensor", "dict-of-numbers", "empty", "empty-model", "state_dict-list"],
)
def test_non_state_dict_fails_clearly(micro, tmp_path, payload, type_name):
    path = tmp_path / "odd.pth"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(micro, path)
    msg = str(info.value)
    assert "holds no state dict" in msg and f"found {type_name}" in msg


# ---------------------------------------------------------------- classifier head

@pytest.fixture(scope="module")
def ten_class_source():
    return _timm_source("swin_micro", seed=1, num_classes=10)


@pytest.fixture(scope="module")
def ten_class_files(ckpt_dir, ten_class_source, to_microsoft_layout):
    timm_path, ms_path = ckpt_dir / "ten_timm.pth", ckpt_dir / "ten_ms.pth"
    torch.save(ten_class_source.state_dict(), timm_path)
    torch.save({"model": to_microsoft_layout(ten_class_source)}, ms_path)
    return {"timm": timm_path, "microsoft": ms_path}


@pytest.mark.parametrize("layout", ["timm", "microsoft"])
def test_other_class_count_needs_adapt_head(micro, ten_class_files, ten_class_source, layout):
    model = micro
    before = _snapshot(model)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, ten_class_files[layout])
    msg = str(info.value)
    assert "adapt_head" in msg
    found = tuple(ten_class_source.state_dict()["head.fc.weight"].shape)
    assert f"head.fc.weight: model expects {tuple(before['head.fc.weight'].shape)}, checkpoint has {found}" in msg
    _assert_state_equal(model.state_dict(), before)


@pytest.mark.parametrize("layout", ["timm", "microsoft"])
def test_adapt_head_keeps_fresh_head_and_loads_body(micro, ten_class_files, ten_class_source, layout):
    model = micro
    before = _snapshot(model)
    result = load_checkpoint(model, ten_class_files[layout], adapt_head=True)
    assert result.adapted_head is True and result.layout == layout
    source, loaded = ten_class_source.state_dict(), model.state_dict()
    head = {"head.fc.weight", "head.fc.bias"}
    body = [k for k in source if k not in head]
    assert set(loaded) == set(source) and body
    _assert_state_equal(loaded, source, body)  # every body tensor is the checkpoint's
    _assert_state_equal(loaded, before, head)  # the head is the model's own, 1000 classes
    assert model.head.fc.out_features == 1000
    with torch.no_grad():
        assert model(torch.randn(1, 3, *model.img_size)).shape == (1, 1000)


def test_adapt_head_with_matching_head_loads_it(micro, micro_file, micro_state):
    model = micro
    result = load_checkpoint(model, micro_file, adapt_head=True)
    assert result.adapted_head is False
    _assert_state_equal(model.state_dict(), micro_state)


def test_adapt_head_does_not_excuse_a_wrong_body(nano, micro_file):
    with pytest.raises(CheckpointError, match="model expects"):
        load_checkpoint(nano, micro_file, adapt_head=True)


def test_adapt_head_accepts_a_headless_checkpoint(micro, micro_state, tmp_path):
    headless = {k: v for k, v in micro_state.items() if not k.startswith("head.")}
    torch.save(headless, tmp_path / "headless.pth")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(micro, tmp_path / "headless.pth")
    result = load_checkpoint(micro, tmp_path / "headless.pth", adapt_head=True)
    assert result.adapted_head is True


def test_training_checkpoint_with_pickled_objects_names_the_fix(micro_state, tmp_path):
    import argparse

    torch.save({"model": micro_state, "args": argparse.Namespace(lr=0.1)}, tmp_path / "train_ckpt.pth")
    with pytest.raises(CheckpointError, match="pickled Python objects") as err:
        load_checkpoint(create_swin("swin_micro"), tmp_path / "train_ckpt.pth")
    assert "weights_only=False" in str(err.value) and "corrupt" not in str(err.value)


# ---------------------------------------------------------------- wrappers and prefixes

@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}, "epoch": 7},
        lambda sd: {"model_state_dict": sd, "optimizer": {}},
    ],
    ids=["ddp", "state_dict-ddp", "model-ddp", "model_state_dict"],
)
def test_wrapped_and_ddp_prefixed_checkpoints_load(micro, tmp_path, micro_state, wrap):
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(micro_state), path)
    model = micro
    result = load_checkpoint(model, path)
    assert result.layout == "timm"
    _assert_state_equal(model.state_dict(), micro_state)


def test_ddp_prefixed_safetensors_load(micro, tmp_path, micro_state):
    path = tmp_path / "ddp.safetensors"
    save_file({f"module.{k}": v for k, v in micro_state.items()}, str(path))
    model = micro
    load_checkpoint(model, path)
    _assert_state_equal(model.state_dict(), micro_state)


def test_headless_checkpoints_detect_their_layout(tmp_path, to_microsoft_layout):
    """Without a classifier only the merging position tells Microsoft from timm."""
    source = _timm_source("swin_micro", seed=2, num_classes=0)
    ms = to_microsoft_layout(source)
    assert not any(k.startswith("head.") for k in ms)
    torch.save({"model": ms}, tmp_path / "ms.pth")
    torch.save(source.state_dict(), tmp_path / "timm.pth")
    for layout, file in (("microsoft", "ms.pth"), ("timm", "timm.pth")):
        model = create_swin("swin_micro", num_classes=0)
        assert load_checkpoint(model, tmp_path / file).layout == layout
        _assert_state_equal(model.state_dict(), source.state_dict())


def test_create_swin_pretrained_loads_and_validates(micro_file, micro_state):
    model = create_swin("swin_micro", pretrained=str(micro_file))
    _assert_state_equal(model.state_dict(), micro_state)
    with pytest.raises(CheckpointError):
        create_swin("swin_nano", pretrained=str(micro_file))


# ---------------------------------------------------------------- inputs and names

@pytest.mark.parametrize(
    "name, overrides, shape, expected",
    [
        ("swin_micro", {}, (1, 3, 32, 32), "[batch, 3, 64, 64]"),
        ("swin_micro", {}, (1, 3, 64, 48), "[batch, 3, 64, 64]"),
        ("swin_micro", {}, (1, 1, 64, 64), "[batch, 3, 64, 64]"),
        ("swin_micro", {}, (3, 64, 64), "[batch, 3, 64, 64]"),
        ("swin_micro", dict(img_size=(64, 48)), (1, 3, 64, 64), "[batch, 3, 64, 48]"),
        ("swin_nano", {}, (2, 3, 64, 64), None),
    ],
)
def test_wrong_input_size_names_expected_size(request, name, overrides, shape, expected):
    # The plain variants come from the module's templates (fixtures `micro` / `nano`).
    model = create_swin(name, **overrides).eval() if overrides else request.getfixturevalue(name.removeprefix("swin_"))
    if expected is None:
        size = model_config(name)["img_size"]
        assert size != 64
        expected = f"[batch, 3, {size}, {size}]"
    with pytest.raises(EdgeSwinError) as info, torch.no_grad():
        model(torch.zeros(shape))
    msg = str(info.value)
    assert expected in msg and str(tuple(shape)) in msg


def test_unknown_model_lists_known_models():
    with pytest.raises(EdgeSwinError) as info:
        create_swin("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    for name in list(VARIANTS) + list(ALIASES):
        assert name in msg
    for call in (resolve_name, model_config):
        with pytest.raises(EdgeSwinError):
            call("swin_tiny")  # close, but not a name we know
    assert issubclass(CheckpointError, EdgeSwinError)


def test_aliases_map_to_timm_names():
    expected = {
        "swin_t": "swin_tiny_patch4_window7_224",
        "swin_s": "swin_small_patch4_window7_224",
        "swin_b": "swin_base_patch4_window7_224",
        "swin_l": "swin_large_patch4_window7_224",
        "swin_b_384": "swin_base_patch4_window12_384",
        "swin_l_384": "swin_large_patch4_window12_384",
    }
    for alias, name in expected.items():
        assert ALIASES[alias] == name
        assert resolve_name(alias) == name == resolve_name(name)
        assert timm.is_model(name), name
        assert model_config(alias) == VARIANTS[name]
    assert set(ALIASES.values()) <= set(VARIANTS)
    assert list_models() == sorted(VARIANTS)
    model = create_swin("swin_micro", num_classes=5)
    assert model.variant == MICRO and model.config == {**VARIANTS[MICRO], "num_classes": 5}


# ---------------------------------------------------------------- another window size (224/7 -> 384/12 recipe)

def test_window_change_needs_adapt_window_then_interpolates_the_bias_tables(tmp_path):

    source = create_swin("swin_micro", window_size=4)
    torch.save({"model": source.state_dict()}, tmp_path / "w4.pth")
    target = create_swin("swin_micro", img_size=96, window_size=6)  # 24x24 map: windows of 6, still shifted
    with pytest.raises(CheckpointError, match="adapt_window=True"):
        load_checkpoint(target, tmp_path / "w4.pth")
    load_checkpoint(target, tmp_path / "w4.pth", adapt_window=True)
    key = "layers.0.blocks.1.attn.relative_position_bias_table"
    assert target.state_dict()[key].shape == (11 * 11, 1)
    assert torch.equal(target.state_dict()["patch_embed.proj.weight"], source.state_dict()["patch_embed.proj.weight"])
    assert torch.isfinite(target(torch.randn(1, 3, 96, 96))).all()


def test_bias_table_resize_keeps_what_it_should():
    from edge_swin.models.checkpoint import resize_bias_table

    table = torch.randn(13 * 13, 3)
    assert torch.allclose(resize_bias_table(table, 13), table, atol=1e-6)  # same size: unchanged
    flat = torch.full((13 * 13, 2), 0.5)
    assert torch.allclose(resize_bias_table(flat, 23), torch.full((23 * 23, 2), 0.5), atol=1e-6)
    # heads stay apart: a table that is zero for head 0 stays zero there
    mixed = torch.stack([torch.zeros(169), torch.randn(169)], dim=1)
    assert resize_bias_table(mixed, 23)[:, 0].abs().max() == 0
