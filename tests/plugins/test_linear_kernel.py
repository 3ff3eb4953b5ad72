"""swin_linear_fp16 / swin_linear_int8 / swin_qkv_int8 in Triton's interpreter (tests/plugins/conftest.py).

Each tile of TILES runs (sm=None: the DEFAULT_SM tile; 75: 32-wide K tiles, so the K loop; 90: 128 rows):
K <= BLOCK_K takes the path that holds the rows' whole K, larger K the K loop.

FP16 mode: fp16 operands, fp32 accumulation, y rounded to the io dtype once: relative error
(max |y - ref| / max |ref|) < 2e-3 against float64 on the same (io-rounded) inputs.

INT8 mode: the reference is the fake-quant arithmetic in float64, with the activation quantized by torch's
fake_quantize_per_tensor_affine (what modelopt and the export's Q/DQ compute) and the weights already on
the int8 grid. y = acc * x_scale * w_scale[n] + b[n] with an exact int32 `acc`, so two results whose
integer accumulators differ are at least one unit u_n = x_scale * w_scale[n] apart (the output's
quantization step), while the kernel's fp32 epilogue errs by about 2**-23 * (|acc| + |y| / u_n) units,
far below half a unit for these sizes (asserted). Hence the test: max |y - ref| / u_n < 0.5, i.e. every
integer product sum is exact.
"""
from __future__ import annotations

import inspect

import pytest
import torch

from edge_swin.plugins.swin_window_attention.kernels import linear as L
from edge_swin.plugins.swin_window_attention.kernels.spec import FP8_SMS, INT8_FP32_IO_SMS

SHAPES = [  # (M, N_OUT, K): odd everywhere, one tile exactly, a tiny one, a Swin-T-like qkv (C = 96), K > 128
    (67, 97, 45),
    (64, 32, 32),
    (1, 5, 3),
    (130, 288, 96),
    (70, 64, 200),
]
SMS = [None, 75, 90]  # tiles: DEFAULT_SM's (whole K held for K <= 128), sm_75's (K loop), sm_90's (128 rows)


def _data(m, n, k, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(m, k, generator=gen)
    w = torch.randn(n, k, generator=gen) / k ** 0.5
    b = 0.2 * torch.randn(n, generator=gen)
    return x, w, b


def _rel_err(y, ref) -> float:
    return float((y.double() - ref).abs().max() / ref.abs().max())


def _int8_inputs(x, w):
    """Per-tensor x scale and per-row w scale (amax / 127), w quantize-dequantized per row: the node's inputs."""
    x_scale = x.abs().max() / 127
    w_scale = w.abs().amax(dim=1) / 127
    w_q = torch.fake_quantize_per_channel_affine(w, w_scale, torch.zeros(len(w_scale), dtype=torch.int32), 0,
                                                 -128, 127)
    return x_scale, w_scale, w_q


def _int8_reference(x, w_q, b, x_scale, w_scale):
    x_q = torch.fake_quantize_per_tensor_affine(x, float(x_scale), 0, -128, 127)
    acc = torch.round(x_q.double() / float(x_scale)) @ torch.round(w_q.double() / w_scale.double()[:, None]).T
    ref = x_q.double() @ w_q.double().T + b.double()
    return ref, acc


@pytest.mark.parametrize("sm", SMS, ids=lambda sm: f"tile{sm or L.DEFAULT_SM}")
@pytest.mark.parametrize("io", [torch.float16, torch.float32], ids=["fp16io", "fp32io"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fp16_mode_matches_float64(shape, io, sm):
    x, w, b = (t.to(io) for t in _data(*shape, seed=sum(shape)))
    y = L.linear(x, w, b, mode="fp16", sm=sm)
    assert y.dtype == io and y.shape == (shape[0], shape[1])
    assert not y.isnan().any(), "the kernel left part of the NaN-poisoned output unwritten"
    ref = x.double() @ w.double().T + b.double()
    # fp32 io is rounded to fp16 on load: the reference keeps it, so that rounding counts against the bound
    assert _rel_err(y, ref) < 2e-3


@pytest.mark.parametrize("sm", SMS, ids=lambda sm: f"tile{sm or L.DEFAULT_SM}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_int8_mode_integer_exact(shape, sm):
    x, w, b = _data(*shape, seed=100 + sum(shape))
    x_scale, w_scale, w_q = _int8_inputs(x, w)
    y = L.linear(x, w_q, b, mode="int8", x_scale=x_scale, w_scale=w_scale, sm=sm)
    assert y.dtype == torch.float32 and not y.isnan().any()
    ref, acc = _int8_reference(x, w_q, b, x_scale, w_scale)
    unit = float(x_scale) * w_scale.double()                       # [N_OUT]: one accumulator step of y[:, n]
    epilogue = 2.0 ** -23 * (acc.abs() + ref.abs() / unit).max()   # fp32 epilogue error bound, in units
    assert epilogue < 0.1, "sizes too large for the half-unit argument; see the module docstring"
    err_units = ((y.double() - ref).abs() / unit).max().item()
    assert err_units < 0.5, f"an int32 accumulator differs: {err_units:.2f} units"


@pytest.mark.parametrize("io", [torch.float16, torch.float32], ids=["fp16io", "fp32io"])
def test_int8_input_is_the_quantized_float_input(io):
    """The INT8 node's proj: x arrives int8 (quantized by the attention with x_scale); y is what the float x gives."""
    x, w, b = _data(130, 96, 96, seed=11)
    x_scale, w_scale, w_q = _int8_inputs(x, w)
    x = x.to(io).float()
    xi = torch.round(torch.clamp(x * (1 / x_scale), -128, 127)).to(torch.int8)
    y_float = L.linear(x.to(io), w_q.to(io), b.to(io), mode="int8", x_scale=x_scale, w_scale=w_scale)
    y_int8 = L.linear(xi, w_q.to(io), b.to(io), mode="int8", x_scale=x_scale, w_scale=w_scale)
    assert y_int8.dtype == io and not y_int8.isnan().any()
    assert torch.equal(y_int8, y_float)


def _quant(t, s):
    """sat8(rne(t * (1 / s))) in float32, as the kernels compute it."""
    return torch.round(torch.clamp(t * (1 / torch.tensor(s, dtype=torch.float32)), -128, 127))


@pytest.mark.parametrize("sm", SMS, ids=lambda sm: f"tile{sm or L.DEFAULT_SM}")
@pytest.mark.parametrize("io", [torch.float16, torch.float32], ids=["fp16io", "fp32io"])
def test_qkv_int8_writes_the_quantized_projection(io, sm):
    """swin_qkv_int8's int8 q | k | v equal the float projection (int8 mode) quantized as the attention's operands:
    q * scale with q_scale, k with k_scale, v with v_scale. C = 64 (2 heads), 101 tokens."""
    c, m, scale = 64, 101, 32 ** -0.5
    x, w, b = _data(m, 3 * c, c, seed=12)
    x_scale, w_scale, w_q = _int8_inputs(x, w)
    x, w_q, b = x.to(io), w_q.to(io), b.to(io)
    # the float projection in float32 (the qkv kernel's epilogue is float32 whatever the io)
    y = L.linear(x.float(), w_q.float(), b.float(), mode="int8", x_scale=x_scale, w_scale=w_scale, sm=sm)
    q, k, v = y[:, :c] * torch.tensor(scale, dtype=torch.float32), y[:, c:2 * c], y[:, 2 * c:]
    # 0.7 * amax: some values saturate
    qs, ks, vs = (float(torch.tensor(0.7 * t.abs().max().item() / 127, dtype=torch.float32)) for t in (q, k, v))
    qkv = L.qkv_int8(x, w_q, b, x_scale=x_scale, w_scale=w_scale, q_scale=qs, k_scale=ks, v_scale=vs, scale=scale,
                     sm=sm)
    assert qkv.dtype == torch.int8 and qkv.shape == (m, 3 * c)
    expect = torch.cat([_quant(q, qs), _quant(k, ks), _quant(v, vs)], dim=1)
    assert (expect.abs() == 128).any() or (expect == 127).any(), "no saturated value: the clamp is untested"
    assert torch.equal(qkv.float(), expect)
    swapped = L.qkv_int8(x, w_q, b, x_scale=x_scale, w_scale=w_scale, q_scale=qs, k_scale=vs, v_scale=ks, scale=scale)
    assert not torch.equal(swapped.float(), expect), "k/v scales swapped must show"


def _count_x_reads(monkeypatch, x: torch.Tensor) -> list[int]:
    """Count, in Triton's interpreter, how many times each element of x is loaded (masked-off lanes not counted)."""
    import numpy as np
    from triton.runtime import interpreter

    lo, hi = x.data_ptr(), x.data_ptr() + x.numel() * x.element_size()
    reads = [0]
    original = interpreter.InterpreterBuilder.create_masked_load

    def counting(self, ptrs, mask, *args):
        addresses = ptrs.data[np.broadcast_to(mask.data, ptrs.data.shape).astype(bool)]
        reads[0] += int(((addresses >= lo) & (addresses < hi)).sum())
        return original(self, ptrs, mask, *args)

    monkeypatch.setattr(interpreter.InterpreterBuilder, "create_masked_load", counting)
    return reads


@pytest.mark.parametrize("sm", [None, 75], ids=["tile80-whole-K", "tile75-K-loop"])
@pytest.mark.parametrize("kind", ["fp16", "qkv_int8"])
def test_x_is_read_once_when_its_whole_k_fits(monkeypatch, kind, sm):
    """The point of the retiling (the old tile re-read x once per 32 output columns and lost to cuBLAS): with
    K <= BLOCK_K (C = 96 here) a program loads its rows of x once and produces every output column from them;
    with sm_75's BLOCK_K = 32 the first 32 columns are read once and the rest once per BLOCK_N columns (from
    L1/L2 on a GPU)."""
    m, c = 130, 96
    x, w, b = _data(m, 3 * c, c, seed=13)
    x = x.half()
    reads = _count_x_reads(monkeypatch, x)
    if kind == "fp16":
        L.linear(x, w.half(), b.half(), mode="fp16", sm=sm)
    else:
        x_scale, w_scale, w_q = _int8_inputs(x.float(), w)
        L.qkv_int8(x, w_q.half(), b.half(), x_scale=x_scale, w_scale=w_scale, q_scale=0.05, k_scale=0.05,
                   v_scale=0.05, scale=32 ** -0.5, sm=sm)
    tile = L.tile_for(sm)
    bk, column_blocks = tile["BLOCK_K"], -(-3 * c // tile["BLOCK_N"])
    resident = min(c, bk)  # the first BLOCK_K columns, read once; the rest once per column block
    assert reads[0] == m * resident + column_blocks * m * (c - resident)


def test_int8_sm75_route_is_bit_identical():
    """sm_75's cubin multiplies the int8 values as fp16 (no int8 dot there in Triton 3.8): same int32 sums.

    K = 2048 with near-saturated operands of matching signs: the sums pass 2**24, where a whole-K fp32 sum
    would round; per-block sums must not."""
    m, n, k = 17, 32, 2048
    g = torch.Generator().manual_seed(75)
    sign = torch.where(torch.rand(k, generator=g) < 0.5, -1.0, 1.0)
    x = sign * 127.0 - torch.randint(0, 3, (m, k), generator=g).float() * sign
    w = sign * 127.0 - torch.randint(0, 5, (n, k), generator=g).float() * sign
    args = dict(mode="int8", x_scale=1.0, w_scale=torch.ones(n))
    y_int8_dot = L.linear(x, w, torch.zeros(n), **args)
    y_fp16_dot = L.linear(x, w, torch.zeros(n), sm=75, **args)
    ref = x.clamp(-128, 127).double() @ w.double().T
    assert ref.abs().max() > 2 ** 24  # the case a single fp32 sum would get wrong
    assert torch.equal(y_int8_dot, y_fp16_dot)
    assert (y_fp16_dot.double() - ref).abs().max() <= ref.abs().max() * 2 ** -23  # only the fp32 epilogue rounds


def test_int8_rounds_half_to_even_and_saturates():
    """x_scale 0.5 makes x / x_scale exact; with w = I and w_scale 1, y reads the quantized x back."""
    t = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127.5, 127.5, -128.5, 300.0, -300.0, 3.49, -3.51,
                      0.0, 1e-6])
    k = len(t)
    x = (t * 0.5)[None, :].repeat(3, 1)
    w = torch.eye(k)
    y = L.linear(x, w, torch.zeros(k), mode="int8", x_scale=0.5, w_scale=torch.ones(k))
    expect = torch.round(t).clamp(-128, 127) * 0.5   # torch.round: half to even
    torch.testing.assert_close(y, expect[None, :].repeat(3, 1), rtol=0, atol=0)
    half_up = torch.floor(t + 0.5).clamp(-128, 127) * 0.5
    assert not torch.equal(y[0], half_up), "the test must tell half-to-even from half-up"


def test_transposed_weight_is_caught():
    """Deliberately wrong: w given as [K, N_OUT] (a square layer, so the shapes still agree)."""
    x, w, b = _data(70, 48, 48, seed=7)
    ref = x.double() @ w.double().T + b.double()
    assert _rel_err(L.linear(x.half(), w.half(), b.half(), mode="fp16"), ref) < 2e-3
    assert _rel_err(L.linear(x.half(), w.T.contiguous().half(), b.half(), mode="fp16"), ref) > 0.1


def test_wrong_row_scales_are_caught():
    """Deliberately wrong: the per-row weight scales reversed, which the integer-exact check must reject."""
    x, w, b = _data(40, 37, 33, seed=8)
    x_scale, w_scale, w_q = _int8_inputs(x, w)
    ref, _ = _int8_reference(x, w_q, b, x_scale, w_scale)
    y = L.linear(x, w_q, b, mode="int8", x_scale=x_scale, w_scale=w_scale.flip(0))
    assert ((y.double() - ref).abs() / (float(x_scale) * w_scale.double())).max() > 0.5


def test_short_grid_leaves_poison_that_comparisons_catch():
    """A launch one row-block short leaves the launcher's NaN poison in the last rows: unwritten tiles show.
    One program writes every column of its rows (N_OUT = 3 column blocks)."""
    tile = L.tile_for(None)
    m, n, k = tile["BLOCK_M"] + 5, 3 * tile["BLOCK_N"], 32
    x, w, b = (t.half() for t in _data(m, n, k, seed=9))
    y = torch.full((m, n), float("nan"), dtype=torch.float16)
    L.swin_linear_fp16[(1, 1, 1)](x, w, b, y, m, n, k, **tile)   # should be cdiv(m, BLOCK_M) = 2 row blocks
    assert not y[: tile["BLOCK_M"]].isnan().any()
    assert y[tile["BLOCK_M"]:].isnan().all()


def test_launcher_rejects_bad_arguments():
    x, w, b = _data(4, 6, 8, seed=10)
    with pytest.raises(ValueError, match="mode"):
        L.linear(x, w, b, mode="fp8")
    with pytest.raises(ValueError, match="one io dtype"):
        L.linear(x.half(), w, b, mode="fp16")
    with pytest.raises(ValueError, match="one io dtype"):
        L.linear(x.to(torch.int8), w, b, mode="fp16")
    with pytest.raises(ValueError, match=r"\[3C, C\]"):
        L.qkv_int8(x, w, b, x_scale=1, w_scale=1, q_scale=1, k_scale=1, v_scale=1, scale=1)
    with pytest.raises(ValueError, match="nn.Linear layout"):
        L.linear(x, w.T, b, mode="fp16")
    with pytest.raises(ValueError, match="x_scale"):
        L.linear(x, w, b, mode="int8")
    with pytest.raises(ValueError, match="w_scale must have 6"):
        L.linear(x, w, b, mode="int8", x_scale=0.1, w_scale=torch.ones(5))


def test_variants_follow_the_contract():
    """What the plugin launches, signatures in the kernels' argument order, tiles and warps per SM from TILES."""
    assert {(v.family, v.mode, v.io, v.signature["x"]) for v in L.VARIANTS} == {
        ("linear", "fp16", "fp16", "*fp16"), ("qkv_linear", "int8", "fp16", "*fp16"),
        ("qkv_linear", "int8", "fp32", "*fp32"), ("linear", "int8", "fp16", "*i8"), ("linear", "int8", "fp32", "*i8"),
        ("qkv_linear", "fp8", "fp16", "*fp16"), ("linear", "fp8", "fp16", "*fp8e4nv")}
    readme_order = {"swin_linear_fp16": ["x", "w", "b", "y", "M", "N_OUT", "K"],
                    "swin_linear_int8": ["x", "w", "b", "y", "x_scale", "w_scale", "M", "N_OUT", "K"],
                    "swin_qkv_int8": ["x", "w", "b", "qkv", "x_scale", "w_scale", "q_scale", "k_scale", "v_scale",
                                      "M", "C", "scale"]}
    readme_order |= {"swin_linear_fp8": readme_order["swin_linear_int8"], "swin_qkv_fp8": readme_order["swin_qkv_int8"]}
    for v in L.VARIANTS:
        kernel = {k.__name__: k for k in L.KERNELS.values()}[v.kernel]
        assert list(v.signature) == list(inspect.signature(kernel.fn).parameters)
        assert [name for name, ty in v.signature.items() if ty != "constexpr"] == readme_order[v.kernel]
        assert v.window == (0, 0) and v.shifted == 0
        kind = v.kernel.removeprefix("swin_").removeprefix("linear_")
        for sm in L.TILES:
            bm, bn, bk, warps = L.TILE_EXCEPTIONS.get((kind, v.io, sm), L.TILES[sm])
            ce = v.constexprs_for(sm)
            assert (ce["BLOCK_M"], ce["BLOCK_N"], ce["BLOCK_K"], v.num_warps_for(sm)) == (bm, bn, bk, warps)
            if v.mode == "int8":
                assert ce["INT8_DOT"] == (0 if sm == 75 else 1)
            assert bk >= 32 and 32 % bn == 0, "int8 mma needs K tiles >= 32; BLOCK_N must divide C = heads * 32"
        io_ptr = "*fp16" if v.io == "fp16" else "*fp32"
        assert v.signature["b"] == io_ptr
        assert v.signature["w"] == ("*fp8e4nv" if v.mode == "fp8" else io_ptr)  # the FP8 node's weights are fp8
        assert v.archs == {("int8", "fp32"): INT8_FP32_IO_SMS, ("fp8", "fp16"): FP8_SMS}.get((v.mode, v.io))
        out = "qkv" if v.family == "qkv_linear" else "y"
        assert v.signature[out] == ({"int8": "*i8", "fp8": "*fp8e4nv"}[v.mode] if v.family == "qkv_linear" else io_ptr)
