"""Our Swin equals timm's: same logits from the same weights, whichever checkpoint layout carried them.

Per published variant the (expensive) timm model and our model are built once
(module-scoped fixture). Every layout file is loaded into our model and the
resulting weights are compared bit for bit with timm's; the logits are compared
once, after loading the Microsoft layout (the one that needs renaming). Bitwise
equal weights plus equal logits for one layout imply equal logits for all.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer as TimmSwin

from edge_swin.models import VARIANTS, WindowAttention, create_swin, load_checkpoint, model_config
from edge_swin.models.swin_transformer import SwinTransformer

TOL = 1e-4
LAYOUTS = ("timm_pth", "timm_safetensors", "microsoft_pth")
EXPECTED_LAYOUT = {"timm_pth": "timm", "timm_safetensors": "timm", "microsoft_pth": "microsoft"}


@dataclass
class Case:
    name: str
    timm_model: torch.nn.Module
    ours: SwinTransformer
    timm_state: dict
    ms_state: dict
    files: dict
    x: torch.Tensor
    timm_logits: torch.Tensor


def _timm_model(name: str, seed: int, randomize, no_init, **kwargs) -> torch.nn.Module:
    # Every parameter is overwritten by the seeded randomize(), so timm's init is skipped (seconds for Swin-B).
    with no_init():
        model = timm.create_model(name, pretrained=False, weight_init="skip", **kwargs)
    return randomize(model, seed).eval()


def _our_model(name: str, no_init, **overrides) -> SwinTransformer:
    # Init skipped too: the tests NaN-fill the parameters and then load every one of them.
    with no_init():
        return create_swin(name, **overrides).eval()


def _save_all(tmp: Path, timm_state: dict, ms_state: dict) -> dict:
    files = {
        "timm_pth": tmp / "timm.pth",
        "timm_safetensors": tmp / "timm.safetensors",
        "microsoft_pth": tmp / "microsoft.pth",
    }
    torch.save(timm_state, files["timm_pth"])
    save_file({k: v.contiguous() for k, v in timm_state.items()}, str(files["timm_safetensors"]))
    torch.save({"model": ms_state}, files["microsoft_pth"])
    return files


@pytest.fixture(
    scope="module",
    params=[
        ("swin_tiny_patch4_window7_224", 2),
        ("swin_small_patch4_window7_224", 1),
        ("swin_base_patch4_window12_384", 1),
    ],
    ids=lambda p: p[0],
)
def case(request, tmp_path_factory, randomize_weights, to_microsoft_layout, no_init):
    name, batch = request.param
    timm_model = _timm_model(name, seed=1, randomize=randomize_weights, no_init=no_init)
    timm_state = timm_model.state_dict()
    ms_state = to_microsoft_layout(timm_model)
    files = _save_all(tmp_path_factory.mktemp(name), timm_state, ms_state)
    size = timm_model.patch_embed.img_size
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        timm_logits = timm_model(x)
    ours = _our_model(name, no_init)
    yield Case(name, timm_model, ours, timm_state, ms_state, files, x, timm_logits)


def _fill_nan_(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))


def test_microsoft_layout_helper_is_microsofts(case):
    """The helper writes what Microsoft's release holds: merging at stage ends, `head`, persisted buffers."""
    keys = set(case.ms_state)
    num_stages = len(case.timm_model.layers)
    assert "head.weight" in keys and "head.fc.weight" not in keys
    assert any(k.startswith("layers.0.downsample.reduction") for k in keys)
    assert not any(k.startswith(f"layers.{num_stages - 1}.downsample") for k in keys)
    assert "layers.0.blocks.0.attn.relative_position_index" in keys
    assert "layers.0.blocks.0.attn_mask" not in keys  # W-MSA block: no mask
    mask = case.ms_state["layers.0.blocks.1.attn_mask"]
    block = case.timm_model.layers[0].blocks[1]
    n = block.window_size[0] * block.window_size[1]
    assert mask.ndim == 3 and mask.shape[1:] == (n, n)
    # The last stage fits in one window, so it is never shifted and has no mask.
    last = num_stages - 1
    assert not any(k.startswith(f"layers.{last}.") and k.endswith("attn_mask") for k in keys)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_loads_timm_weights_exactly(case, layout):
    """Load each file into a NaN-filled model: every parameter must come back bit-identical to timm's."""
    _fill_nan_(case.ours)
    result = load_checkpoint(case.ours, case.files[layout])
    assert result.layout == EXPECTED_LAYOUT[layout]
    assert result.adapted_head is False
    ours = case.ours.state_dict()
    assert set(ours) == set(case.timm_state)
    for key, value in case.timm_state.items():
        assert ours[key].shape == value.shape, key
        assert torch.equal(ours[key], value), f"{layout}: {key} differs after loading"
    if layout == "microsoft_pth":
        buffers = {k for k in case.ms_state if k.endswith(("relative_position_index", "attn_mask"))}
        assert buffers and set(result.ignored) == buffers
    else:
        assert result.ignored == []


def test_logits_match_timm(case, rel_err):
    """create_swin + load_checkpoint(Microsoft layout) gives timm's logits on the same input."""
    _fill_nan_(case.ours)
    result = load_checkpoint(case.ours, case.files["microsoft_pth"])
    assert result.layout == "microsoft"
    with torch.no_grad():
        logits = case.ours(case.x)
    assert logits.shape == case.timm_logits.shape == (case.x.shape[0], 1000)
    assert torch.isfinite(logits).all()
    err = rel_err(logits, case.timm_logits)
    assert err < TOL, f"{case.name}: relative max error {err:.3g}"
    if case.x.shape[0] > 1:  # samples are not mixed up within the batch
        assert not torch.allclose(logits[0], logits[1])


def test_derived_buffers_and_windows_match_timm(case):
    """Per block: the same clipped window, shift, relative-position index and shift mask as timm."""
    ours_attn = case.ours.attention_modules()
    timm_blocks = [b for stage in case.timm_model.layers for b in stage.blocks]
    assert len(ours_attn) == len(timm_blocks)
    for i, (attn, block) in enumerate(zip(ours_attn, timm_blocks)):
        assert attn.window_size == tuple(block.window_size), i
        assert attn.shift_size == tuple(block.shift_size), i
        assert torch.equal(attn.relative_position_index, block.attn.relative_position_index), i
        if block.attn_mask is None:
            assert attn.attn_mask is None, i
        else:
            assert attn.attn_mask is not None and torch.equal(attn.attn_mask, block.attn_mask), i


def test_resolution_needing_padding_matches_timm(randomize_weights, no_init, rel_err):
    """Swin-T at 256: maps 64/32/16/8 are no multiple of window 7, so every stage pads (and the last one shifts)."""
    timm_model = _timm_model("swin_tiny_patch4_window7_224", seed=3, randomize=randomize_weights, no_init=no_init,
                             img_size=256)
    ours = _our_model("swin_t", no_init, img_size=256)
    _fill_nan_(ours)
    feats = [a.feat_size for a in ours.attention_modules()]
    assert all(h % 7 and w % 7 for h, w in feats)
    assert any(a.shifted for a in ours.layers[-1].blocks.modules() if isinstance(a, WindowAttention))
    ours.load_state_dict(timm_model.state_dict())
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected, actual = timm_model(x), ours(x)
    assert rel_err(actual, expected) < TOL


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("swin_micro", {}),
        ("swin_nano", {}),
        # Non-square image and window: one-axis shifts, padding on one axis, odd map before merging.
        ("swin_micro", dict(img_size=(64, 40), window_size=(4, 2))),
        ("swin_nano", dict(img_size=(32, 20), window_size=(4, 2), num_classes=7)),
    ],
    ids=["micro", "nano", "micro-nonsquare", "nano-nonsquare"],
)
def test_small_variants_match_timm(name, overrides, randomize_weights, rel_err):
    config = model_config(name, **overrides)
    timm_args = inspect.signature(TimmSwin.__init__).parameters
    torch.manual_seed(5)
    timm_model = randomize_weights(TimmSwin(**{k: v for k, v in config.items() if k in timm_args}), seed=5).eval()
    ours = create_swin(name, **overrides).eval()
    ours.load_state_dict(timm_model.state_dict())  # strict: same parameter names and shapes
    h, w = timm_model.patch_embed.img_size
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected, actual = timm_model(x), ours(x)
    assert actual.shape == expected.shape == (2, config.get("num_classes", 1000))
    assert rel_err(actual, expected) < TOL
    for attn, block in zip(ours.attention_modules(), [b for s in timm_model.layers for b in s.blocks]):
        assert (attn.window_size, attn.shift_size) == (tuple(block.window_size), tuple(block.shift_size))


PUBLISHED = sorted(n for n in VARIANTS if timm.is_model(n))


def test_published_names_are_timm_models():
    assert len(PUBLISHED) == 6, PUBLISHED


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_match_timm(name):
    """Architecture of every published name equals timm's (built on the meta device: no weights allocated)."""
    with torch.device("meta"):
        ref = timm.create_model(name, pretrained=False)
    config = model_config(name)
    assert ref.patch_embed.img_size == (config["img_size"],) * 2
    assert ref.patch_embed.proj.kernel_size == (config["patch_size"],) * 2
    assert ref.embed_dim == config["embed_dim"]
    assert tuple(len(s.blocks) for s in ref.layers) == tuple(config["depths"])
    assert tuple(s.blocks[0].attn.num_heads for s in ref.layers) == tuple(config["num_heads"])
    assert tuple(ref.layers[0].blocks[0].window_size) == (config["window_size"],) * 2
    assert ref.num_classes == config.get("num_classes", 1000)
    assert all(b.mlp.fc1.out_features == 4 * b.mlp.fc1.in_features for s in ref.layers for b in s.blocks)
