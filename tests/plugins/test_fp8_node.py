"""The FP8 SwinWindowAttention node on a CPU: its e4m3 rounding, its two linears and the whole node (three
launches in Triton's interpreter, edge_swin.plugins.swin_window_attention.emulate) against modelopt's FP8 fake-quant block.

Triton's interpreter casts float32 to fp8 with ties away from zero, subnormals flushed and NaN past 448 (Triton
3.8, measured), unlike a GPU (round to nearest even, saturating). The kernels therefore round in float32 first
(kernels/fp8.rne_e4m3) and cast only values already on the e4m3 grid, which both cast exactly:
test_rne_e4m3_is_torchs_cast proves the rounding equals torch's cast (what modelopt's fake quant does) on
every grid value, every midpoint and its float32 neighbours, saturation and random values.

Whole node (fp16 io, fp8 workspaces, fp32 scales) against the fake-quant module on the same fp16-rounded x and
parameters, with the INT8 node's tolerance (test_emulated_node.py explains it): >= 90% of the tokens equal to
fp16 precision, and what differs (a value within float rounding of an e4m3 midpoint) at most half the module's
own quantization error. Measured (printed with -s): 100% of the tokens in every case, max error 1e-4 to 3e-3
of the quantization error. The broken-on-purpose cases must fail that check.
"""
from __future__ import annotations

import copy

import pytest
import torch
import triton
import triton.language as tl

from edge_swin.plugins.swin_window_attention.emulate import fp8_scales_of, node_inputs_of, run_module, run_node
from edge_swin.plugins.swin_window_attention.kernels import linear as L
from edge_swin.plugins.swin_window_attention.kernels import window_attention as wa
from edge_swin.plugins.swin_window_attention.kernels.fp8 import rne_e4m3
from edge_swin.plugins.swin_window_attention.kernels.spec import FP8_SMS
from tests.export.helpers import make_block
from tests.plugins.node_checks import (
    BLOCKS,
    EXACT_FP16_IO,
    assert_int8_close,
    int8_compare,
    quantize_block_fp8,
    rounded_to,
    seeded,
)

E4M3 = torch.float8_e4m3fn


@triton.jit
def _round_kernel(x, out, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out + i, rne_e4m3(tl.load(x + i, mask=i < n, other=0.0)), mask=i < n)


def _rne(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(x.numel(), dtype=E4M3)
    _round_kernel[(triton.cdiv(x.numel(), 4096),)](x, out, x.numel(), BLOCK=4096)
    return out


def test_rne_e4m3_is_torchs_cast():
    grid = torch.arange(256, dtype=torch.uint8).view(E4M3).float()
    grid = grid[grid.isfinite()].unique()
    mids = (grid[1:] + grid[:-1]) / 2  # ties: round half to even
    values = torch.cat([grid, mids, torch.nextafter(mids, mids + 1), torch.nextafter(mids, mids - 1),
                        seeded((20000,), 1) * 40, seeded((5000,), 2) * 0.004,  # normals and subnormals
                        torch.tensor([448.0, 449.0, 463.9, 464.0, 1e4, -1e30, 2.0 ** -10, -(2.0 ** -10) * 3])])
    got = _rne(values).float()
    want = values.clamp(-448, 448).to(E4M3).float()  # modelopt: clamp, then torch's cast
    assert torch.equal(got, want), f"{int((got != want).sum())} values round differently from torch"


def _fake_quant(t, s):
    """modelopt's FP8 fake quant with scale s = amax / 448: e4m3(sat448(t / s)) * s (grid value times scale)."""
    return (t * (1 / s)).clamp(-448, 448).to(E4M3).float() * s


def _e4m3_values(w_fake_quant, s):
    """The FP8 node's weight input: the e4m3 values of a fake-quantized weight (exact: it is on the grid of s)."""
    return (w_fake_quant / s).clamp(-448, 448).to(E4M3)


def test_qkv_fp8_writes_the_quantized_projection():
    m, c, scale = 70, 64, 0.17
    x, w, b = seeded((m, c), 3).half(), seeded((3 * c, c), 4) * 0.1, seeded((3 * c,), 5).half() * 0.1
    xs, ws = float(x.float().abs().max()) / 448, float(w.abs().max()) / 448
    wq = _fake_quant(w, ws)          # on the e4m3 grid of ws; the kernel gets its e4m3 values
    qs, ks, vs = 0.01, 0.02, 0.03
    qkv = L.quantized_qkv(x, _e4m3_values(wq, ws), b, mode="fp8", x_scale=xs, w_scale=ws, q_scale=qs, k_scale=ks, v_scale=vs,
                          scale=scale)
    ref = _fake_quant(x.float(), xs).double() @ wq.double().T + b.double()
    ref[:, :c] *= scale
    ref = (ref / torch.tensor([qs] * c + [ks] * c + [vs] * c, dtype=torch.float64)).float()
    want = ref.clamp(-448, 448).to(E4M3)
    assert qkv.dtype == E4M3
    assert torch.equal(qkv.float(), want.float()), f"{int((qkv.float() != want.float()).sum())} q/k/v values differ"


def test_linear_fp8_reads_fp8_and_writes_fp16():
    m, k, n = 67, 64, 64
    xq = (seeded((m, k), 6) * 50).clamp(-448, 448).to(E4M3)   # the attention's fp8 output
    w, b = seeded((n, k), 7) * 0.1, (seeded((n,), 8) * 0.01).half()
    xs, ws = 0.005, float(w.abs().max()) / 448
    wq = _fake_quant(w, ws)
    y = L.linear(xq, _e4m3_values(wq, ws), b, mode="fp8", x_scale=xs, w_scale=ws)
    ref = (xq.double() * xs) @ wq.double().T + b.double()
    assert y.dtype == torch.float16
    assert float((y.double() - ref).abs().max() / ref.abs().max()) < 1e-3  # fp16 y; products exact
    wrong = L.linear(xq, _e4m3_values(wq, ws), b, mode="fp8", x_scale=1.3 * xs, w_scale=ws)
    assert float((wrong.double() - ref).abs().max() / ref.abs().max()) > 0.1


def _fp8_check(name, qblock, x, fp32_block):
    x16 = x.half()
    y = run_module(qblock, x16)
    assert y.dtype == torch.float16 and not y.isnan().any(), "NaN poison left in y: a token was not written"
    with torch.no_grad():
        c = int8_compare(y, rounded_to(qblock, torch.float16)(x16.float()),
                         rounded_to(fp32_block, torch.float16)(x16.float()), EXACT_FP16_IO)
    assert_int8_close(f"{name} (fp8 node)", c)


CASES = [*BLOCKS[1:], ("swmsa_14x14_w7", (14, 14), 7, True, 64, 2, 1)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fp8_node_matches_fake_quant_module(case):
    name, feat, window, shift, dim, heads, batch = case
    fp32 = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=31)
    qblock = quantize_block_fp8(copy.deepcopy(fp32), seeded((8, *feat, dim), seed=32))
    _fp8_check(name, qblock, seeded((batch, *feat, dim), seed=33), fp32)


def test_fp8_wrong_scales_are_caught():
    """Deliberately wrong: k and v scales swapped, the softmax or the proj input scale 1.3x. Not 2x: a power-of-two
    scale change is exact in a floating-point format (the e4m3 values shift exponent, dequantization undoes it)
    and rightly changes nothing, apart from saturation and subnormals."""
    fp32 = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=34)
    qblock = quantize_block_fp8(copy.deepcopy(fp32), seeded((8, 9, 11, 64), seed=35))
    x = seeded((2, 9, 11, 64), seed=36).half()
    with torch.no_grad():
        ref = rounded_to(qblock, torch.float16)(x.float())
        ref_fp32 = rounded_to(fp32, torch.float16)(x.float())
    tensors, attrs = node_inputs_of(qblock, x)
    s = attrs["fp8_scales"]  # qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w
    assert_int8_close("correct scales", int8_compare(run_node(*tensors, **attrs), ref, ref_fp32, EXACT_FP16_IO))
    for what, wrong in {"k/v scales swapped": [*s[:3], s[5], s[4], s[3], *s[6:]],
                        "softmax scale 1.3x": [*s[:4], 1.3 * s[4], *s[5:]],
                        "proj input scale 1.3x": [*s[:6], 1.3 * s[6], s[7]]}.items():
        c = int8_compare(run_node(*tensors, **{**attrs, "fp8_scales": wrong}), ref, ref_fp32, EXACT_FP16_IO)
        print(f"{what}: {100 * c['exact_tokens']:.1f}% of tokens exact, max err {c['err'] / c['qerr']:.2f} of the "
              "quantization error")
        with pytest.raises(AssertionError):
            assert_int8_close(what, c)


def test_fp8_scales_need_a_calibrated_fp8_block():
    fp32 = make_block(dim=64, heads=2, feat=(8, 8), window=4, shift=False, seed=37)
    qblock = quantize_block_fp8(copy.deepcopy(fp32), seeded((2, 8, 8, 64), seed=38))
    assert [float(t) for t in fp8_scales_of(qblock)] == [
        float(qblock.get_submodule(p).amax.float() / 448) for p in ("qkv.input_quantizer", "qkv.weight_quantizer",
                                                            "q_bmm_quantizer", "k_bmm_quantizer", "softmax_quantizer",
                                                            "v_bmm_quantizer", "proj.input_quantizer",
                                                            "proj.weight_quantizer")]
    qblock.softmax_quantizer.disable()
    with pytest.raises(ValueError, match="softmax_quantizer"):
        fp8_scales_of(qblock)


def test_fp8_variants_only_for_fp8_gpus():
    fp8 = [v for v in (*L.VARIANTS, *wa.VARIANTS) if v.mode == "fp8"]
    assert {v.family for v in fp8} == {"qkv_linear", "linear", "window_attention"}
    assert all(v.io == "fp16" and v.archs and set(v.archs) <= set(FP8_SMS) for v in fp8)
    assert FP8_SMS == (89, 90, 110)
