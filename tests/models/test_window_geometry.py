"""Window geometry of (S)W-MSA checked against direct computations, and the behaviour of the shifted attention.

Every reference here is written from the definition (slicing loops, a double
loop over token pairs, a rolled label map), not from the helpers under test.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from edge_swin.models.window_attention import (
    MASK_VALUE,
    WindowAttention,
    fit_window,
    relative_position_index,
    shift_mask,
    window_partition,
    window_reverse,
)


# ---------------------------------------------------------------- references

def ref_relative_position_index(wh: int, ww: int) -> torch.Tensor:
    tokens = [(i, j) for i in range(wh) for j in range(ww)]  # row-major, as a window is flattened
    return torch.tensor([[(i1 - i2 + wh - 1) * (2 * ww - 1) + (j1 - j2 + ww - 1) for (i2, j2) in tokens]
                         for (i1, j1) in tokens], dtype=torch.long)


def padded(feat, window):
    return tuple(math.ceil(f / w) * w for f, w in zip(feat, window))


def ref_windows(x: torch.Tensor, window) -> list[tuple[int, int, int]]:
    """(batch, window row, window col) of each window in the order Swin flattens them: batch-major, then row-major."""
    B, H, W, _ = x.shape
    return [(b, r, c) for b in range(B) for r in range(H // window[0]) for c in range(W // window[1])]


def ref_mask_from_rolled_labels(feat, window, shift) -> torch.Tensor:
    """Mask from the definition: on the padded map, label each original row/col by the shifted window it falls in
    (floor((o - shift) / window): the wrapped-around top rows get -1), roll the label map the way the block rolls
    the features, cut windows, and forbid every pair whose labels differ."""
    Hp, Wp = padded(feat, window)
    rows = torch.div(torch.arange(Hp) - shift[0], window[0], rounding_mode="floor")
    cols = torch.div(torch.arange(Wp) - shift[1], window[1], rounding_mode="floor")
    labels = rows[:, None] * 10_000 + cols[None, :]  # [Hp, Wp], unique per (row region, col region)
    labels = torch.roll(labels, shifts=(-shift[0], -shift[1]), dims=(0, 1))
    masks = []
    for r in range(Hp // window[0]):
        for c in range(Wp // window[1]):
            win = labels[r * window[0]:(r + 1) * window[0], c * window[1]:(c + 1) * window[1]].reshape(-1)
            same = win[:, None] == win[None, :]
            masks.append(torch.where(same, 0.0, MASK_VALUE))
    return torch.stack(masks)


def ref_mask_from_intervals(feat, window, shift) -> torch.Tensor:
    """Mask from the paper's three regions per axis on the padded map: [0, P-w), [P-w, P-s), [P-s, P)."""
    Hp, Wp = padded(feat, window)

    def region(p, size, w, s):
        return 0 if p < size - w else (1 if p < size - s else 2)

    labels = torch.tensor([[region(i, Hp, window[0], shift[0]) * 3 + region(j, Wp, window[1], shift[1])
                            for j in range(Wp)] for i in range(Hp)])
    masks = []
    for r in range(Hp // window[0]):
        for c in range(Wp // window[1]):
            win = labels[r * window[0]:(r + 1) * window[0], c * window[1]:(c + 1) * window[1]].reshape(-1)
            masks.append(torch.where(win[:, None] == win[None, :], 0.0, MASK_VALUE))
    return torch.stack(masks)


def randomized_attention(dim, heads, feat, window, shift, seed=0) -> WindowAttention:
    torch.manual_seed(seed)
    attn = WindowAttention(dim, heads, feat, window, shift).eval()
    with torch.no_grad():  # weights big enough that every logit term (bias, mask) moves the output visibly
        attn.relative_position_bias_table.normal_(0.0, 1.0)
        for lin in (attn.qkv, attn.proj):
            lin.weight.normal_(0.0, 1.0 / math.sqrt(dim))
            lin.bias.normal_(0.0, 0.2)
    return attn


def ref_window_attention(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """SW-MSA spelled out: roll, pad, cut windows by slicing, per window softmax(q k^T / sqrt(d) + B + M) v,
    project, paste windows back, crop, roll back. Only the module's learned weights are reused."""
    B, H, W, C = x.shape
    (wh, ww), (sh, sw) = attn.window_size, attn.shift_size
    heads, d = attn.num_heads, C // attn.num_heads
    n = wh * ww
    xs = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
    Hp, Wp = padded((H, W), (wh, ww))
    xs = F.pad(xs, (0, 0, 0, Wp - W, 0, Hp - H))
    table = attn.relative_position_bias_table
    bias = table[ref_relative_position_index(wh, ww).view(-1)].view(n, n, heads).permute(2, 0, 1)  # heads, N, N
    masks = ref_mask_from_rolled_labels((H, W), (wh, ww), (sh, sw)) if (sh or sw) else None
    out = torch.zeros_like(xs)
    per_image = (Hp // wh) * (Wp // ww)
    for idx, (b, r, c) in enumerate(ref_windows(xs, (wh, ww))):
        tokens = xs[b, r * wh:(r + 1) * wh, c * ww:(c + 1) * ww].reshape(n, C)
        q, k, v = F.linear(tokens, attn.qkv.weight, attn.qkv.bias).view(n, 3, heads, d).permute(1, 2, 0, 3)
        logits = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        if masks is not None:
            logits = logits + masks[idx % per_image]
        y = (logits.softmax(-1) @ v).permute(1, 0, 2).reshape(n, C)
        y = F.linear(y, attn.proj.weight, attn.proj.bias)
        out[b, r * wh:(r + 1) * wh, c * ww:(c + 1) * ww] = y.view(wh, ww, C)
    return torch.roll(out[:, :H, :W], shifts=(sh, sw), dims=(1, 2))


# ---------------------------------------------------------------- partition

@pytest.mark.parametrize(
    "shape, window",
    [
        ((2, 8, 8, 3), (4, 4)),
        ((1, 12, 10, 2), (4, 5)),  # non-square window
        ((2, 6, 9, 1), (3, 3)),  # non-square map
        ((1, 12, 6, 2), (3, 2)),
        ((1, 7, 7, 4), (7, 7)),  # one window
        ((2, 6, 4, 2), (1, 2)),
    ],
)
def test_window_partition_content_and_round_trip(shape, window):
    B, H, W, C = shape
    x = torch.randn(shape)
    windows = window_partition(x, window)
    assert windows.shape == (B * (H // window[0]) * (W // window[1]), window[0], window[1], C)
    for i, (b, r, c) in enumerate(ref_windows(x, window)):
        expected = x[b, r * window[0]:(r + 1) * window[0], c * window[1]:(c + 1) * window[1]]
        assert torch.equal(windows[i], expected), (i, b, r, c)
    assert torch.equal(window_reverse(windows, window, (H, W)), x)


# ---------------------------------------------------------------- relative position index

@pytest.mark.parametrize("window", [(7, 7), (12, 12), (4, 3), (2, 5), (3, 1), (1, 1)])
def test_relative_position_index_matches_double_loop(window):
    wh, ww = window
    index = relative_position_index(window)
    assert index.dtype == torch.long
    assert torch.equal(index, ref_relative_position_index(wh, ww))
    # Every one of the (2wh-1)(2ww-1) table rows is used; a token with itself is the centre offset (0, 0).
    assert torch.equal(index.unique(), torch.arange((2 * wh - 1) * (2 * ww - 1)))
    assert (index.diagonal() == (wh - 1) * (2 * ww - 1) + ww - 1).all()


# ---------------------------------------------------------------- shift mask

MASK_CASES = [
    ((8, 8), (4, 4), (2, 2)),
    ((14, 14), (7, 7), (3, 3)),
    ((56, 56), (7, 7), (3, 3)),  # Swin-T stage 1
    ((24, 24), (12, 12), (6, 6)),  # Swin-B-384 stage 3
    ((10, 9), (4, 4), (2, 2)),  # padded on both axes
    ((16, 16), (7, 7), (3, 3)),  # Swin-T at 256, stage 3: padded to 21
    ((8, 8), (7, 7), (3, 3)),  # Swin-T at 256, stage 4: padded to 14
    ((8, 5), (4, 2), (2, 1)),  # non-square window, padded width
    ((4, 6), (4, 4), (0, 2)),  # shift on one axis only (height fits one window)
    ((16, 4), (4, 4), (2, 0)),
]


@pytest.mark.parametrize("feat, window, shift", MASK_CASES)
def test_shift_mask_matches_direct_computation(feat, window, shift):
    mask = shift_mask(feat, window, shift)
    Hp, Wp = padded(feat, window)
    n = window[0] * window[1]
    assert mask.shape == ((Hp // window[0]) * (Wp // window[1]), n, n)
    assert set(mask.unique().tolist()) == {0.0, MASK_VALUE}
    assert torch.equal(mask, ref_mask_from_rolled_labels(feat, window, shift))
    assert torch.equal(mask, ref_mask_from_intervals(feat, window, shift))
    # Windows away from the wrap-around edge hold one region: nothing masked there.
    per_row = Wp // window[1]
    interior = [r * per_row + c for r in range(Hp // window[0] - 1) for c in range(per_row - 1)]
    assert (mask[interior] == 0).all()
    assert (mask[-1] != 0).any()  # the bottom-right window mixes regions


@pytest.mark.parametrize("feat, window", [((8, 8), (4, 4)), ((10, 9), (4, 4)), ((7, 7), (7, 7))])
def test_no_mask_without_shift(feat, window):
    assert shift_mask(feat, window, (0, 0)) is None
    assert WindowAttention(32, 2, feat, window, shift=False).attn_mask is None


# ---------------------------------------------------------------- fit_window

@pytest.mark.parametrize(
    "feat, window, shift, expected",
    [
        ((56, 56), 7, True, ((7, 7), (3, 3))),
        ((56, 56), 7, False, ((7, 7), (0, 0))),
        ((96, 96), 12, True, ((12, 12), (6, 6))),
        ((7, 7), 7, True, ((7, 7), (0, 0))),  # map == window: one window, nothing to shift
        ((3, 3), 7, True, ((3, 3), (0, 0))),  # window larger than the map: clipped to it
        ((2, 2), 4, True, ((2, 2), (0, 0))),
        ((4, 10), 7, True, ((4, 7), (0, 3))),  # clipped on one axis only
        ((10, 4), 7, True, ((7, 4), (3, 0))),
        ((8, 8), (4, 6), True, ((4, 6), (2, 3))),  # non-square target window
        ((8, 5), (4, 2), True, ((4, 2), (2, 1))),
        ((8, 8), 5, True, ((5, 5), (2, 2))),  # odd window: shift is floor(window / 2)
    ],
)
def test_fit_window(feat, window, shift, expected):
    assert fit_window(feat, window, shift) == expected


def test_window_attention_clips_window_to_small_map():
    attn = WindowAttention(32, 2, (3, 5), window_size=7, shift=True).eval()
    assert attn.window_size == (3, 5) and attn.shift_size == (0, 0) and not attn.shifted
    assert attn.attn_mask is None
    assert attn.relative_position_bias_table.shape == ((2 * 3 - 1) * (2 * 5 - 1), 2)
    assert torch.equal(attn.relative_position_index, ref_relative_position_index(3, 5))
    with torch.no_grad():
        assert attn(torch.randn(1, 3, 5, 32)).shape == (1, 3, 5, 32)


# ---------------------------------------------------------------- behaviour

ATTN_CASES = [
    ((8, 8), 4, True),
    ((8, 8), 4, False),
    ((10, 9), 4, True),  # shift + padding
    ((8, 5), (4, 2), True),  # non-square window, padded width
    ((4, 6), 4, True),  # shift on the width only
    ((14, 14), 7, True),
]


@pytest.mark.parametrize("feat, window, shift", ATTN_CASES)
def test_window_attention_matches_explicit_roll_reference(feat, window, shift):
    attn = randomized_attention(32, 2, feat, window, shift, seed=1)
    assert attn.shifted == (shift and attn.shift_size != (0, 0))
    x = torch.randn(2, *feat, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        actual, expected = attn(x), ref_window_attention(attn, x)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_shift_mask_matters():
    """Without its mask a shifted block lets wrapped-around tokens attend to each other: the output changes,
    exactly in the tokens whose shifted window sits on the wrap-around edge."""
    feat, window, shift = (8, 8), (4, 4), (2, 2)
    attn = randomized_attention(32, 2, feat, window, True, seed=3)
    assert attn.shift_size == shift
    x = torch.randn(1, *feat, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        masked = attn(x)
        attn.attn_mask.zero_()
        unmasked = attn(x)
    diff = (masked - unmasked).abs().amax(-1)[0]  # [H, W]
    # Tokens at original rows/cols [s, H - w + s) lie in interior shifted windows: untouched by the mask.
    inner = torch.zeros(feat, dtype=torch.bool)
    inner[shift[0]:feat[0] - window[0] + shift[0], shift[1]:feat[1] - window[1] + shift[1]] = True
    assert torch.equal(diff[inner], torch.zeros_like(diff[inner]))
    assert (diff[~inner] > 1e-3).all(), diff


@pytest.mark.parametrize(
    "feat, window, shift, token",
    [
        ((8, 8), (4, 4), True, (0, 0)),  # wrapped to the bottom-right corner window
        ((8, 8), (4, 4), True, (3, 3)),  # interior shifted window [2, 6) x [2, 6)
        ((8, 8), (4, 4), True, (7, 1)),  # bottom edge, wrapped column
        ((8, 8), (4, 4), False, (5, 2)),
        ((12, 8), (4, 4), True, (11, 7)),
        ((8, 6), (4, 2), True, (1, 4)),  # non-square window, shift (2, 1)
    ],
)
def test_attention_only_reaches_tokens_of_the_same_shifted_region(feat, window, shift, token):
    """Perturb one token: exactly the tokens that share its (shifted) window AND image region change.

    In original coordinates a shifted block's windows start at the shift; rows above the shift wrap around to
    the bottom window but must not mix with it. So the region of row o is floor((o - s) / w)."""
    attn = randomized_attention(32, 2, feat, window, shift, seed=5)
    s = attn.shift_size
    x = torch.randn(1, *feat, 32, generator=torch.Generator().manual_seed(6))
    y = x.clone()
    y[0, token[0], token[1]] += torch.randn(32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        diff = (attn(x) - attn(y)).abs().amax(-1)[0]
    region = lambda o, axis: (o - s[axis]) // window[axis]  # noqa: E731  (Python floor division)
    expected = torch.tensor([[region(i, 0) == region(token[0], 0) and region(j, 1) == region(token[1], 1)
                              for j in range(feat[1])] for i in range(feat[0])])
    changed = diff > 1e-4
    assert torch.equal(changed, expected), f"changed:\n{changed.int()}\nexpected:\n{expected.int()}"
    assert (diff[~expected] < 1e-20).all()
