"""swin_window_attention_fp16 / _int8 in Triton's interpreter (tests/plugins/conftest.py) against float64.

The reference is `WindowAttention.forward`'s own geometry (torch.roll, padding, window_partition,
window_reverse, shift_mask from edge_swin.models.window_attention) applied to a given qkv projection,
in float64, so the kernel's folded index arithmetic is checked against the module's explicit copies.

Bounds
------
fp16 mode: max |out - ref| / max |ref| < 2e-3 (fp16 operands and fp16 P: ~2**-11 relative).

int8 mode, "within one quantization step" made exact: the reference quantizes q, k, v with the same
float32 operations as the kernel (q * scale * (1 / s), IEEE, round half to even), so the integer
operands are identical and the integer products exact on both sides. The one place the two can round
differently is P: the kernel's float32 softmax differs from the float64 one by ~1e-6 relative, so
P / p_scale may land on the other side of a .5 tie when it is within delta = 2e-3 of one (the float32
error of P / p_scale is below 127 * 4e-6 = 5e-4). Each such entry changes its integer by exactly one
step, i.e. the output by p_scale * v_scale * |vi[key, d]| (one P quantization step times that |v|). So
per output element
    |out - ref| <= p_scale * v_scale * sum over near-tie keys of |vi[key, d]|  +  1e-5 * max |ref|
(the second term: the final float32 multiplies by the scales). The test also checks the overall
"one step" form: max |out - ref| <= p_scale * v_amax * (most near-tie keys in one row, at least 1).

Shapes
------
Every (N, heads per stage, shifted) of Swin-T/S/B at 224 (window 7: maps 56/28/14/7, heads 3/6/12/24
for T/S and 4/8/16/32 for B) and Swin-B at 384 (window 12: maps 96/48/24/12, heads 4/8/16/32) appears at
least once (the last stage's map fits one window, so it is never shifted). The interpreter costs
~20-30 ms per program on our 2-core CI machine and the grid is windows x heads x query blocks, so the
full list (Swin-B 384 stage 1 alone: 64 windows x 4 heads x 9 blocks) would take many minutes. Heads
only move the C stride and the grid's second axis, and the query-block index only the first row, so:
each Swin-T stage runs at its real (map, heads) in one mode and its other shift in the other mode on
a 14 x 14 map (2 x 2 windows: every shift-mask region); Swin-B's head counts run on 28 x 28 / 14 x 14 /
7 x 7 maps (the 56 and 28 maps run with Swin-T's heads). Window 12 runs its shipped 16-row tile on the
48 x 48 map (16 windows, one head) and on 13 x 17 (padding), and the stage head counts on 24 x 24
(stage 3's real map) and 12 x 12 with 64-row query blocks (3 programs per window and head instead of
9); the 96 x 96 map is not run (its 8 x 8 window grid is what the 56 x 56 map of window 7 checks).
Padding (9 x 11, 13 x 17), batch 2, fp32 io for fp16 mode, and the sm_75 route (INT8_DOT = 0 and
16-row blocks for N = 49) are separate cases.
"""
from __future__ import annotations

import os
import time

import pytest
import torch

from edge_swin.models.window_attention import (
    padded_size,
    shift_mask,
    window_partition,
    window_reverse,
)
from edge_swin.plugins.swin_window_attention.kernels import window_attention as wa
from edge_swin.plugins.swin_window_attention.kernels.spec import FP8_SMS, INT8_FP32_IO_SMS

HEAD_DIM = wa.HEAD_DIM
FP16_BOUND = 2e-3
TIE_DELTA = 2e-3


# ------------------------------------------------------------------------------------------- data

def make_case(H, W, heads, window, shift, *, batch=1, io=torch.float16, seed=None):
    """Fresh random qkv [B, H, W, 3C], qkv_b, bias [heads, N, N], mask (None when shift is 0)."""
    seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
    g = torch.Generator().manual_seed(seed)
    C, N = heads * HEAD_DIM, window[0] * window[1]
    # Spread logits (q, k ~ N(0, 1.5^2): scores ~ N(0, 2.25 * 32 / 32)) and a bias of the same size as the
    # scores, so a wrong bias, mask or token changes the output visibly; qkv_b away from zero so padded
    # tokens (q/k/v = qkv_b) are not the same as zeros.
    qkv = (1.5 * torch.randn(batch, H, W, 3 * C, generator=g)).to(io)
    qkv_b = (0.5 + torch.randn(3 * C, generator=g)).to(io)
    bias = torch.randn(heads, N, N, generator=g).to(io)
    mask = shift_mask((H, W), window, (shift, shift))
    mask = None if mask is None else mask.to(io)
    return {"qkv": qkv, "qkv_b": qkv_b, "bias": bias, "mask": mask, "H": H, "W": W, "shift": shift, "C": C,
            "scale": HEAD_DIM ** -0.5, "window": window, "seed": seed}


def int8_scales(case):
    """Per-tensor scales as calibration would set them: amax / 127 of q * scale, k, P (<= 1) and v."""
    C, qkv = case["C"], case["qkv"].float()
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    # 0.8 * amax: some values saturate, as with percentile calibration. Rounded to float32, the kernel's type.
    scales = (0.8 * (q * case["scale"]).abs().max().item() / 127, 0.8 * k.abs().max().item() / 127, 1 / 127,
              0.8 * v.abs().max().item() / 127)
    return tuple(torch.tensor(scales, dtype=torch.float32).tolist())


# ------------------------------------------------------------------------------------------- reference

def _windows(case):
    """qkv rolled by -shift, padded with qkv_b, partitioned: float32 [B * nW, heads, N, 3, HEAD_DIM] and Hp, Wp."""
    qkv, H, W, (wh, ww), s = case["qkv"].float(), case["H"], case["W"], case["window"], case["shift"]
    B, C = qkv.shape[0], case["C"]
    if s:
        qkv = torch.roll(qkv, shifts=(-s, -s), dims=(1, 2))
    Hp, Wp = padded_size((H, W), (wh, ww))
    full = case["qkv_b"].float().expand(B, Hp, Wp, 3 * C).clone()  # padded tokens: the Linear of zeros = qkv_b
    full[:, :H, :W] = qkv
    win = window_partition(full, (wh, ww)).view(-1, wh * ww, 3, C // HEAD_DIM, HEAD_DIM)
    return win.permute(0, 3, 1, 2, 4), Hp, Wp


def _unwindow(out, case, Hp, Wp):
    """[B * nW, heads, N, HEAD_DIM] -> [B, H, W, C]: merge heads, reverse windows, crop, roll by +shift."""
    wh, ww = case["window"]
    x = out.transpose(1, 2).reshape(-1, wh, ww, case["C"])
    x = window_reverse(x, (wh, ww), (Hp, Wp))[:, :case["H"], :case["W"]]
    s = case["shift"]
    return torch.roll(x, shifts=(s, s), dims=(1, 2)) if s else x


def _scores_extra(case, n_windows_total):
    """bias (+ mask per window), float64, broadcast over [B * nW, heads, N, N]."""
    extra = case["bias"].double().unsqueeze(0)
    if case["mask"] is not None:
        mask = case["mask"].double()
        extra = extra.unsqueeze(0) + mask[:, None]  # [1, nW, heads, N, N]
        extra = extra.expand(n_windows_total // mask.shape[0], *extra.shape[1:]).reshape(-1, *extra.shape[2:])
    return extra


def reference_fp16(case):
    """float64 attention on the (io-dtype) inputs."""
    win, Hp, Wp = _windows(case)
    q, k, v = (win[..., i, :].double() for i in range(3))
    attn = (q * case["scale"]) @ k.transpose(-2, -1) + _scores_extra(case, win.shape[0])
    return _unwindow(attn.softmax(-1) @ v, case, Hp, Wp)


def _quant(t32, s):
    """The kernel's int8 quantization, in float32: sat8(rne(t * (1 / s)))."""
    inv = 1 / torch.tensor(s, dtype=torch.float32)
    return torch.round(torch.clamp(t32 * inv, -128, 127))


def reference_int8(case, scales):
    """Fake-quant reference (float64 after the operands) and the per-element bound of the module docstring."""
    qs, ks, ps, vs = scales
    win, Hp, Wp = _windows(case)
    q, k, v = (win[..., i, :] for i in range(3))  # float32
    qi = _quant(q * torch.tensor(case["scale"], dtype=torch.float32), qs).double()
    ki, vi = _quant(k, ks).double(), _quant(v, vs).double()
    attn = (qi @ ki.transpose(-2, -1)) * qs * ks + _scores_extra(case, win.shape[0])
    p = attn.softmax(-1) / ps
    pi = torch.round(torch.clamp(p, -128, 127))
    near_tie = ((p - p.floor() - 0.5).abs() < TIE_DELTA) & (p < 127)
    out = _unwindow((pi @ vi) * ps * vs, case, Hp, Wp)
    slack = _unwindow((near_tie.double() @ vi.abs()) * ps * vs, case, Hp, Wp)
    return out, slack, near_tie


# ------------------------------------------------------------------------------------------- checks

def o_scale(scales):
    """The proj input's scale the int8 kernel quantizes its output with: one v step (|out| <= ~128 v steps)."""
    return scales[3]


def int8_qkv(case, scales):
    """The int8 workspace swin_qkv_int8 writes for this qkv: q * scale, k, v quantized as the kernel does."""
    qs, ks, _, vs = scales
    C, qkv = case["C"], case["qkv"].float()
    q = qkv[..., :C] * torch.tensor(case["scale"], dtype=torch.float32)
    return torch.cat([_quant(q, qs), _quant(qkv[..., C:2 * C], ks), _quant(qkv[..., 2 * C:], vs)], -1).to(torch.int8)


def run(case, mode, scales=None, **kw):
    """fp16: out of the io dtype. int8: the int8 out dequantized with o_scale (float32), from the int8 qkv."""
    args = {k: case[k] for k in ("qkv", "qkv_b", "bias", "mask", "H", "W", "shift", "C", "scale")}
    if mode == "int8" and scales is not None:
        args["qkv"] = int8_qkv(case, scales)
        out = wa.window_attention(**args, mode=mode, scales=(*scales, o_scale(scales)), **kw)
        assert out.dtype == torch.int8
        return out.float() * o_scale(scales)
    return wa.window_attention(**args, mode=mode, scales=scales, **kw)


def check_fp16(out, ref, what):
    """max |out - ref| / max |ref| < FP16_BOUND; NaN (an element the kernel never wrote) fails."""
    nan = torch.isnan(out).sum().item()
    assert nan == 0, f"{what}: {nan} output elements never written (still NaN)"
    err = ((out.double() - ref).abs().max() / ref.abs().max()).item()
    assert err < FP16_BOUND, f"{what}: relative error {err:.3g} >= {FP16_BOUND}"
    return err


def check_int8(out, ref, slack, near_tie, scales, what):
    nan = torch.isnan(out).sum().item()
    assert nan == 0, f"{what}: {nan} output elements never written (still NaN)"
    _, _, ps, vs = scales
    err = (out.double() - ref).abs()
    half_out_step = o_scale(scales) / 2 * (1 + 1e-6)   # the output's own rounding to the proj input grid
    bound = slack + 1e-5 * ref.abs().max() + half_out_step
    worst = (err - bound).max().item()
    assert worst <= 0, (f"{what}: {(err > bound).sum().item()} elements beyond the per-element bound "
                        f"(worst excess {worst:.3g}, max error {err.max().item():.3g})")
    ties_per_row = max(1, int(near_tie.sum(-1).max().item()))
    one_step = ps * vs * 128 * ties_per_row
    assert err.max().item() <= one_step + 1e-5 * ref.abs().max().item() + half_out_step
    assert near_tie.double().mean().item() < 0.01, "near-tie band too wide: the bound would mean little"
    flipped = (err > 1e-5 * ref.abs().max() + half_out_step).double().mean().item()  # elements a P tie moved
    return err.max().item() / (ps * vs * 128), flipped


REPORT: list[str] = []  # accuracy per case, printed by the last test (pytest -s)


def _record(what, mode, seconds, *values):
    REPORT.append(f"{mode} {what}: " + ", ".join(values) + f" ({seconds:.1f} s)")


# ------------------------------------------------------------------------------------------- cases

W7, W12, W4 = (7, 7), (12, 12), (4, 4)
BIG = 64  # BLOCK_M for the window-12 cases with many heads (see the module docstring)
# (label, H, W, heads, window, shift, mode, block_m or None for the shipped tile)
CASES = [
    # Swin-T/S 224 (heads 3/6/12/24): real (map, heads), the other shift on a 14 x 14 map in the other mode
    ("T224-s1", 56, 56, 3, W7, 3, "fp16", None),
    ("T224-s2", 28, 28, 6, W7, 0, "fp16", None),
    ("T224-s3", 14, 14, 12, W7, 3, "fp16", None),
    ("T224-s4", 7, 7, 24, W7, 0, "fp16", None),
    ("T224-h3-W", 14, 14, 3, W7, 0, "int8", None),
    ("T224-h6-SW", 14, 14, 6, W7, 3, "int8", None),
    ("T224-h12-W", 14, 14, 12, W7, 0, "int8", None),
    # Swin-B 224 (heads 4/8/16/32): stages 1-2 on 28 x 28 / 14 x 14 (the 56 and 28 maps run above)
    ("B224-h4-W", 28, 28, 4, W7, 0, "int8", None),
    ("B224-h8-SW", 14, 14, 8, W7, 3, "int8", None),
    ("B224-s3", 14, 14, 16, W7, 0, "int8", None),
    ("B224-s4", 7, 7, 32, W7, 0, "int8", None),
    ("B224-h4-SW", 14, 14, 4, W7, 3, "fp16", None),
    ("B224-h8-W", 14, 14, 8, W7, 0, "fp16", None),
    ("B224-h16-SW", 14, 14, 16, W7, 3, "fp16", None),
    # Swin-B 384, window 12 (heads 4/8/16/32), shipped 16-row tile on the 48 map (16 windows, one head);
    # the stage head counts on 24 x 24 (s3's real map) and 12 x 12 (s4) with 64-row query blocks
    ("B384-s2-map", 48, 48, 1, W12, 6, "fp16", None),
    ("B384-s3", 24, 24, 16, W12, 6, "fp16", BIG),
    ("B384-s4", 12, 12, 32, W12, 0, "fp16", BIG),
    ("B384-h4-W", 24, 24, 4, W12, 0, "fp16", BIG),
    ("B384-h8-SW", 24, 24, 8, W12, 6, "fp16", BIG),
    ("B384-h4-SW", 24, 24, 4, W12, 6, "int8", BIG),
    ("B384-h8-W", 24, 24, 8, W12, 0, "int8", BIG),
    ("B384-h16-W", 24, 24, 16, W12, 0, "int8", BIG),
    # the demo model's window 4 (N = 16), and maps that need padding (nWh != nWw catches wi/wj swaps)
    ("w4-W", 8, 8, 2, W4, 0, "fp16", None),
    ("w4-SW", 8, 8, 2, W4, 2, "int8", None),
    ("pad-9x11-w4-SW", 9, 11, 2, W4, 2, "fp16", None),
    ("pad-9x11-w4-W", 9, 11, 2, W4, 0, "int8", None),
    ("pad-9x11-w7-SW", 9, 11, 2, W7, 3, "int8", None),
    ("pad-9x11-w7-W", 9, 11, 2, W7, 0, "fp16", None),
    ("pad-13x17-w12-SW", 13, 17, 1, W12, 6, "fp16", None),
    ("pad-13x17-w12-SW", 13, 17, 1, W12, 6, "int8", None),
]


def _int8_case(H, W, heads, window, shift, batch=1, io=torch.float16):
    """int8 mode: int8 q/k/v and out; io (of qkv_b, bias, mask) fp16 as in an FP16+INT8 engine, or fp32."""
    case = make_case(H, W, heads, window, shift, batch=batch, io=io)
    return case, int8_scales(case)


@pytest.mark.parametrize("label,H,W,heads,window,shift,mode,block_m", CASES, ids=[f"{c[0]}-{c[6]}" for c in CASES])
def test_matches_reference(label, H, W, heads, window, shift, mode, block_m):
    start = time.perf_counter()
    what = f"{label} {H}x{W} heads {heads} window {window} shift {shift}" + (f" BLOCK_M {block_m}" if block_m else "")
    if mode == "fp16":
        case = make_case(H, W, heads, window, shift)
        err = check_fp16(run(case, "fp16", block_m=block_m), reference_fp16(case), f"{what} (seed {case['seed']})")
        _record(what, mode, time.perf_counter() - start, f"rel err {err:.2e}")
    else:
        case, scales = _int8_case(H, W, heads, window, shift)
        ref, slack, ties = reference_int8(case, scales)
        steps, flipped = check_int8(run(case, "int8", scales, block_m=block_m), ref, slack, ties, scales,
                                  f"{what} (seed {case['seed']})")
        _record(what, mode, time.perf_counter() - start, f"max err {steps:.2e} P-steps x v_amax",
                f"{100 * flipped:.3f}% of elements moved by a P tie",
                f"near-tie P {100 * ties.double().mean().item():.3f}%")


def test_batch_two_fp32_io():
    """fp16 mode on fp32 tensors (converted on load), batch 2: the batch term of the grid and the row offsets."""
    case = make_case(9, 11, 2, W7, 3, batch=2, io=torch.float32)
    out = run(case, "fp16")
    assert out.dtype == torch.float32
    check_fp16(out, reference_fp16(case), f"batch 2 fp32 io (seed {case['seed']})")
    case, scales = _int8_case(9, 11, 2, W4, 2, batch=2, io=torch.float32)
    ref, slack, ties = reference_int8(case, scales)
    check_int8(run(case, "int8", scales), ref, slack, ties, scales, f"int8 batch 2 fp32 io (seed {case['seed']})")


@pytest.mark.parametrize("window,shift", [(W4, 2), (W7, 3)])
def test_sm75_route_is_bit_identical(window, shift):
    """INT8_DOT = 0 (sm_75: int8 values multiplied as fp16, fp32 accumulation) gives the same bits as int8 dots."""
    case, scales = _int8_case(14, 14, 2, window, shift)
    generic = run(case, "int8", scales)
    sm75 = run(case, "int8", scales, sm=75)
    assert wa.attention_variant("int8", window, True).constexprs_for(75)["INT8_DOT"] == 0
    assert torch.equal(generic, sm75)


# ------------------------------------------------------------------------------------------- must fail

def _broken(case, **changes):
    return {**case, **changes}


@pytest.mark.parametrize("breakage", ["mask windows off by one", "mask left out", "bias heads reversed",
                                      "bias transposed", "shift not applied"])
def test_broken_inputs_are_caught(breakage):
    """The comparison catches a wrong mask window, a missing mask, wrong bias indexing and a missing roll."""
    case = make_case(14, 14, 4, W7, 3)
    ref = reference_fp16(case)
    broken = {
        "mask windows off by one": lambda: _broken(case, mask=torch.roll(case["mask"], 1, 0)),
        "mask left out": lambda: _broken(case, mask=torch.zeros_like(case["mask"])),
        "bias heads reversed": lambda: _broken(case, bias=case["bias"].flip(0)),
        "bias transposed": lambda: _broken(case, bias=case["bias"].transpose(1, 2).contiguous()),
        "shift not applied": lambda: _broken(case, shift=0, mask=None),
    }[breakage]()
    with pytest.raises(AssertionError, match="relative error"):
        check_fp16(run(broken, "fp16"), ref, breakage)


def test_broken_int8_scale_is_caught():
    case, scales = _int8_case(14, 14, 2, W7, 3)
    ref, slack, ties = reference_int8(case, scales)
    wrong = (scales[0], scales[1], scales[2] * 1.5, scales[3])  # P quantized on another grid
    with pytest.raises(AssertionError):
        check_int8(run(case, "int8", wrong), ref, slack, ties, scales, "wrong p_scale")
    args = {k: case[k] for k in ("qkv_b", "bias", "mask", "H", "W", "shift", "C", "scale")}
    out = wa.window_attention(int8_qkv(case, scales), **args, mode="int8", scales=(*scales, 2 * o_scale(scales)))
    with pytest.raises(AssertionError):  # the output quantized with twice the proj input scale, read with it
        check_int8(out.float() * o_scale(scales), ref, slack, ties, scales, "wrong o_scale")


def test_short_grid_leaves_poison_that_fails(monkeypatch):
    """Drop the last query block from the grid: its rows stay NaN and the comparison fails on them."""
    case = make_case(24, 24, 1, W12, 6)
    real_grid = wa.attention_grid
    monkeypatch.setattr(wa, "attention_grid", lambda *a: (*real_grid(*a)[:2], real_grid(*a)[2] - 1))
    out = run(case, "fp16")
    assert torch.isnan(out).any()
    with pytest.raises(AssertionError, match="never written"):
        check_fp16(out, reference_fp16(case), "short grid")


def test_launcher_rejects_bad_arguments():
    case = make_case(14, 14, 2, W7, 3)
    with pytest.raises(ValueError, match="mask"):
        run(_broken(case, mask=None), "fp16")
    with pytest.raises(ValueError, match="shift"):
        run(_broken(case, shift=-3), "fp16")
    with pytest.raises(ValueError, match="scales"):
        run(case, "int8")
    with pytest.raises(ValueError, match="int8 q/k/v"):   # int8 mode reads the int8 workspace, not float qkv
        wa.window_attention(case["qkv"], case["qkv_b"], case["bias"], case["mask"], H=14, W=14, shift=3, C=case["C"],
                            scale=case["scale"], mode="int8", scales=(1.0,) * 5)
    with pytest.raises(ValueError, match="window"):
        run(_broken(case, bias=torch.zeros(2, 25, 25, dtype=torch.float16)), "fp16")


def test_variants_follow_the_contract():
    """Argument order of README "Kernel ABI", BLOCK_N = next power of two, one variant per (mode, window, shift)."""
    fp16 = ["qkv", "qkv_b", "bias", "mask", "out", "H", "W", "SHIFT_H", "SHIFT_W", "C", "scale"]
    int8 = fp16[:5] + ["q_scale", "k_scale", "p_scale", "v_scale", "o_scale"] + fp16[5:]
    tail = ["WH", "WW", "HEAD_DIM", "BLOCK_M", "BLOCK_N", "SHIFTED"]
    assert wa.swin_window_attention_fp16.arg_names == fp16 + tail
    assert wa.swin_window_attention_int8.arg_names == int8 + tail + ["INT8_DOT"]
    assert wa.swin_window_attention_fp8.arg_names == int8 + tail
    keys = {(v.mode, v.io, v.window, v.shifted) for v in wa.VARIANTS}
    assert len(keys) == len(wa.VARIANTS) == 24  # fp16, fp8: fp16 io; int8: fp16 and fp32 io; 3 windows x 2 shifts
    for v in wa.VARIANTS:
        n = v.window[0] * v.window[1]
        assert v.constexprs["BLOCK_N"] == 1 << (n - 1).bit_length() and v.constexprs["HEAD_DIM"] == 32
        assert list(v.signature) == (fp16 if v.mode == "fp16" else int8) + tail + (["INT8_DOT"] if v.mode == "int8" else [])
        assert (v.mode, v.io) in {("fp16", "fp16"), ("int8", "fp16"), ("int8", "fp32"), ("fp8", "fp16")}
        io_ptr = "*fp16" if v.io == "fp16" else "*fp32"
        # 8-bit q/k/v in, 8-bit out (the quantized nodes move bytes, not floats, between their launches)
        workspace = {"int8": "*i8", "fp8": "*fp8e4nv"}.get(v.mode, io_ptr)
        assert [v.signature[p] for p in ("qkv", "qkv_b", "bias", "mask", "out")] == [workspace, io_ptr, io_ptr, io_ptr,
                                                                                    workspace]
        if (v.mode, v.io) == ("int8", "fp32"):  # strongly typed FP32-graph INT8 only: not for sm_87 (spec.py)
            assert 87 not in v.archs and set(v.archs) <= set(INT8_FP32_IO_SMS)
        if v.mode == "fp8":  # only GPUs with FP8 tensor cores
            assert v.archs and set(v.archs) <= set(FP8_SMS)


def test_zz_print_accuracy_report():
    """Not a check: prints what the cases above measured (run with -s)."""
    print("\n" + "\n".join(REPORT))
