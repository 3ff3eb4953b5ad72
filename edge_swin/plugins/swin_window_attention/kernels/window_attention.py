"""The plugin's attention launch: W-MSA / SW-MSA over the qkv projection, as Triton kernels.

Contract (edge_swin/plugins/swin_window_attention/README.md, "Kernel ABI"): `swin_window_attention_fp16` and
`swin_window_attention_int8`, one program per (window, head, block of BLOCK_M query rows),
grid = (B * nWh * nWw, heads, cdiv(N, BLOCK_M)), N = WH * WW.

What a program does, for window (b, wi, wj) and head h:
  - token t of the window (t < N) sits at (y, x) = (wi*WH + t // WW, wj*WW + t % WW) of the rolled,
    padded map. The roll by -shift, the padding and the partition are index arithmetic: a real token
    (y < H and x < W) is read from source token ((y + SHIFT_H) mod H, (x + SHIFT_W) mod W) of
    qkv [B, H, W, 3C]; a padded token has q/k/v = qkv_b (what the qkv Linear makes of the zero padding).
  - S = QK^T * scale + bias[h] (+ mask[wi * nWw + wj] when SHIFTED); keys t >= N (BLOCK_N is the next
    power of two) get -inf. One key block holds the whole window, so the softmax is a plain row softmax
    (no online rescaling), which INT8 needs anyway: P is quantized after normalisation.
  - out = P V, written for real query rows only, to the token the query came from (the inverse roll),
    at channels h*32 .. h*32+31 of out [B, H, W, C] (heads merged). Padded query rows are not written.

fp16 mode: operands converted to fp16 on load (a no-op for fp16 io), fp16 tensor-core products, fp32
accumulation and softmax; P is left unnormalised (max 1, fits fp16) and the PV product divided by the
row sum once.

int8 mode (edge_swin/export/function.py's Q/DQ arithmetic; docs/design.md, "Bytes decide the speed"): qkv is the
int8 workspace swin_qkv_int8 (kernels/linear.py) writes, already quantized there from the float projection:
    qi = sat8(rne(q * scale * (1 / q_scale))), ki = sat8(rne(k * (1 / k_scale))), vi likewise
(a padded token's are its qkv bias quantized the same way, here), and out is int8 for swin_linear_int8:
    S  = (qi . ki) * q_scale * k_scale + bias (+ mask)        int8 products, int32 accumulation
    pi = sat8(rne(softmax(S) * (1 / p_scale)))
    out = sat8(rne((pi . vi) * p_scale * v_scale * (1 / o_scale)))     o_scale: the proj input's scale
bias and mask (and qkv_b) have the node's io type, fp16 or fp32.

fp8 mode (the FP8 node; the same arithmetic with E4M3, modelopt FP8_DEFAULT_CFG): qkv and out are fp8 e4m3,
every int8 rounding above is e4m3(sat448(.)) (kernels/fp8.py: round to nearest even in float32, then an exact
cast), and the products are fp8 tensor-core products with fp32 accumulation (the 4x4 window's P V, K = 16, as
fp16: e4m3 values are fp16 values, so that too is exact up to fp32 accumulation). io is fp16.
`t * (1 / s)` (reciprocal by IEEE `div_rn`) rather than `t / s`: the same choice as the sibling
`swin_linear_int8` (its docstring: torch's fake-quantize ops compute that in fp32), and on the GPU a
multiply instead of Triton's approximate `div.full.f32`. ONNX QuantizeLinear divides; the two differ
by at most one float32 ulp before rounding, so only exact .5 ties can land differently.
Rounding half to even without libdevice (the interpreter cannot run extern calls): clamp to
[-128, 127] first, then (t + 1.5 * 2**23) - 1.5 * 2**23 (float32 steps are 1 in [2**23, 2**24), so the
add rounds to nearest even and the subtract is exact; the clamp keeps a multiply from contracting into
the add as an FMA). build.py checks the PTX still holds the add and the subtract.
Integer products: `tl.dot` of int8 tiles with int32 accumulation (INT8_DOT = 1). Triton 3.8 has no int8
mma on sm_75 and needs K >= 32 for it, so sm_75 (INT8_DOT = 0) and the P V product of a 4x4 window
(K = 16) multiply the same int8 values as fp16 with fp32 accumulation instead, which is exact: every
product is an integer of magnitude <= 2**14 and a row has at most 256 of them (BLOCK_N), so every
partial sum is an integer below 2**24 (32 * 128 * 128 = 2**19 for Q K^T; 256 * 127 * 128 < 2**23 for P V).

Row offsets are int64: B*H*W*3C passes 2**31 at batch ~2400 for Swin-T stage 1.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from edge_swin.plugins.swin_window_attention.contract import HEAD_DIM
from edge_swin.plugins.swin_window_attention.kernels.fp8 import rne_e4m3
from edge_swin.plugins.swin_window_attention.kernels.int8 import rne_int8
from edge_swin.plugins.swin_window_attention.kernels.spec import (
    DIVISIBLE_16,
    FP8_SMS,
    INT8_FP32_IO_SMS,
    MODES,
    POINTER_TYPES,
    SHIPPED_IOS,
    WORKSPACE_POINTERS,
    KernelVariant,
)

WINDOWS = ((4, 4), (7, 7), (12, 12))
# Tiles per window area N: (BLOCK_M, num_warps). BLOCK_N = next power of 2 >= N (the contract). Chosen by
# the AOT build's register counts (build.py fails a release build on any spill):
#   N = 16: one 16-row block, one warp: a 16 x 16 score tile.
#   N = 49: one 64-row block per (window, head), 4 warps (sm_80+: ~94 registers).
#   N = 144: 16-row blocks (9, exactly 144 rows), 4 warps: 16 x 256 scores (sm_80+: ~96 registers);
#            32-row blocks spill (255 registers + stack) even with 8 warps.
TILES = {16: (16, 1), 49: (64, 4), 144: (16, 4)}
# sm_75: Triton 3.8 has no mma for sm_75 and lowers tl.dot to FMAs, which need far more registers:
# N = 49 takes 16-row blocks there (64 rows spill), and N = 144 spills at every tile tried (16 or 32 rows,
# 2 to 16 warps: 1-6 KB of stack), so the 12 x 12 variants are not built for sm_75 (the C++ side must
# report "no kernel for this GPU" there).
SM75_BLOCK_M = {49: 16}
WINDOW_SMS = {144: (80, 86, 87, 89, 90, 110)}
NUM_STAGES = 1  # nothing to pipeline: one K/V block per program


@triton.jit
def _int_dot(a, b, INT8_MMA: tl.constexpr):
    """a . b of int8 tiles as exact int32: the int8 mma, or the fp16 one where there is none (see the docstring)."""
    if INT8_MMA:
        return tl.dot(a, b, out_dtype=tl.int32)
    else:
        return tl.dot(a.to(tl.float16), b.to(tl.float16)).to(tl.int32)


@triton.jit
def _window_tokens(b, y0, x0, first, H, W, SHIFT_H, SHIFT_W, WH: tl.constexpr, WW: tl.constexpr, BLOCK: tl.constexpr):
    """Tokens first .. first+BLOCK-1 of the window whose top-left corner is (y0, x0) of image b's rolled, padded map.

    Returns (source row of qkv / out as int64, real token: inside the window and the map)."""
    t = first + tl.arange(0, BLOCK)
    inside = t < WH * WW
    y = y0 + t // WW
    x = x0 + t % WW
    real = inside & (y < H) & (x < W)
    # roll by -shift: rolled[y] = source[(y + shift) mod H]; padded positions are never read
    row = (b.to(tl.int64) * H + (y + SHIFT_H) % H) * W + (x + SHIFT_W) % W
    return row, real


@triton.jit
def _load_head(part_ptr, qkv_b_part, row_off, real, HEAD_DIM: tl.constexpr):
    """[BLOCK, HEAD_DIM] of one head's q, k or v: rows of qkv for real tokens, the qkv bias for the others.

    part_ptr / qkv_b_part point at the head's first channel of q, k or v; row_off = source row * 3C.
    Tokens outside the window get the bias too: their scores are -inf (keys) or they are not stored (queries).
    """
    d = tl.arange(0, HEAD_DIM)
    vals = tl.load(part_ptr + row_off[:, None] + d[None, :], mask=real[:, None], other=0.0)
    return tl.where(real[:, None], vals, tl.load(qkv_b_part + d)[None, :])


@triton.jit
def _scores_extra(bias, mask, win, head, first, WH: tl.constexpr, WW: tl.constexpr, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr, SHIFTED: tl.constexpr):
    """bias[head] (+ mask[win]) for query rows first.. and all keys, fp32; -inf for keys outside the window."""
    N: tl.constexpr = WH * WW
    qi = first + tl.arange(0, BLOCK_M)
    kj = tl.arange(0, BLOCK_N)
    pair = qi[:, None] * N + kj[None, :]
    ok = (qi < N)[:, None] & (kj < N)[None, :]
    extra = tl.load(bias + head * (N * N) + pair, mask=ok, other=0.0).to(tl.float32)
    if SHIFTED:
        extra += tl.load(mask + win * (N * N) + pair, mask=ok, other=0.0).to(tl.float32)
    return tl.where((kj < N)[None, :], extra, float("-inf"))


@triton.jit
def _program_tokens(H, W, SHIFT_H, SHIFT_W, WH: tl.constexpr, WW: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's window index (into mask), head, first query row, and its query and key tokens."""
    pid_w = tl.program_id(0)
    n_ww = (W + WW - 1) // WW
    n_wins = ((H + WH - 1) // WH) * n_ww
    b = pid_w // n_wins
    win = pid_w % n_wins
    y0 = (win // n_ww) * WH
    x0 = (win % n_ww) * WW
    first = tl.program_id(2) * BLOCK_M
    k_row, k_real = _window_tokens(b, y0, x0, 0, H, W, SHIFT_H, SHIFT_W, WH, WW, BLOCK_N)
    if BLOCK_M == BLOCK_N:  # one query block (first == 0): the queries are the keys
        q_row, q_real = k_row, k_real
    else:
        q_row, q_real = _window_tokens(b, y0, x0, first, H, W, SHIFT_H, SHIFT_W, WH, WW, BLOCK_M)
    return win, tl.program_id(1), first, q_row, q_real, k_row, k_real


@triton.jit
def swin_window_attention_fp16(qkv, qkv_b, bias, mask, out, H, W, SHIFT_H, SHIFT_W, C, scale,
                               WH: tl.constexpr, WW: tl.constexpr, HEAD_DIM: tl.constexpr,
                               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, SHIFTED: tl.constexpr):
    win, head, first, q_row, q_real, k_row, k_real = _program_tokens(H, W, SHIFT_H, SHIFT_W, WH, WW, BLOCK_M, BLOCK_N)
    q_part = head * HEAD_DIM  # channel of this head's q; k and v follow at + C and + 2C
    k_off = k_row * (3 * C)
    q = _load_head(qkv + q_part, qkv_b + q_part, q_row * (3 * C), q_real, HEAD_DIM).to(tl.float16)
    k = _load_head(qkv + (C + q_part), qkv_b + (C + q_part), k_off, k_real, HEAD_DIM).to(tl.float16)
    v = _load_head(qkv + (2 * C + q_part), qkv_b + (2 * C + q_part), k_off, k_real, HEAD_DIM).to(tl.float16)

    s = tl.dot(q, tl.trans(k)) * scale
    s += _scores_extra(bias, mask, win, head, first, WH, WW, BLOCK_M, BLOCK_N, SHIFTED)
    p = tl.exp(s - tl.max(s, axis=1)[:, None])   # unnormalised, max 1: safe in fp16
    o = tl.dot(p.to(tl.float16), v) / tl.sum(p, axis=1)[:, None]

    d = tl.arange(0, HEAD_DIM)
    tl.store(out + q_part + q_row[:, None] * C + d[None, :], o.to(out.dtype.element_ty),
             mask=q_real[:, None])


@triton.jit
def _quantize(t, QUANT: tl.constexpr):
    """float32 -> the quantized node's 8-bit type: int8 (QUANT 1) or fp8 e4m3 (QUANT 2), as its fake quant rounds."""
    if QUANT == 2:
        return rne_e4m3(t)
    else:
        return rne_int8(t)


@triton.jit
def _load_head_quantized(part_ptr, qkv_b_part, row_off, real, pre, inv, IS_Q: tl.constexpr, HEAD_DIM: tl.constexpr,
                         QUANT: tl.constexpr):
    """[BLOCK, HEAD_DIM] int8 / fp8 q, k or v of one head: the 8-bit workspace's rows for real tokens, and for the
    others the qkv bias quantized as swin_qkv_<mode>'s epilogue quantizes a computed value (q: (b * scale) *
    (1 / q_scale)). fp8 goes through its bytes: tl.where and a masked load's `other` on fp8 do not run in Triton's
    interpreter."""
    d = tl.arange(0, HEAD_DIM)
    offsets = row_off[:, None] + d[None, :]
    pad = tl.load(qkv_b_part + d).to(tl.float32)
    if IS_Q:
        pad = pad * pre
    pad_q = _quantize(pad * inv, QUANT)
    if QUANT == 2:
        vals = tl.load(part_ptr.to(tl.pointer_type(tl.int8)) + offsets, mask=real[:, None], other=0)
        return tl.where(real[:, None], vals, pad_q.to(tl.int8, bitcast=True)[None, :]).to(tl.float8e4nv, bitcast=True)
    else:
        vals = tl.load(part_ptr + offsets, mask=real[:, None], other=0)
        return tl.where(real[:, None], vals, pad_q[None, :])


@triton.jit
def _quantized_dot(a, b, QUANT: tl.constexpr, MMA: tl.constexpr):
    """a . b of int8 or fp8 tiles as float32: the 8-bit mma (int8: exact int32; fp8: fp32 accumulation), or, where
    it does not exist (MMA 0), the same values as fp16 (exact: e4m3 and int8 values are fp16 values)."""
    if QUANT == 1:
        return _int_dot(a, b, MMA).to(tl.float32)
    else:
        if MMA:
            return tl.dot(a, b)
        else:
            return tl.dot(a.to(tl.float16), b.to(tl.float16))


@triton.jit
def _quantized_attention(qkv, qkv_b, bias, mask, out, q_scale, k_scale, p_scale, v_scale, o_scale,
                         H, W, SHIFT_H, SHIFT_W, C, scale,
                         WH: tl.constexpr, WW: tl.constexpr, HEAD_DIM: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, SHIFTED: tl.constexpr,
                         INT8_DOT: tl.constexpr, QUANT: tl.constexpr):
    # Triton's 8-bit mma needs K >= 32 (and int8 sm_80+): the P V product of a 4x4 window (K = 16) and int8 on
    # sm_75 use the exact fp16 route (module docstring).
    PV_MMA: tl.constexpr = INT8_DOT and BLOCK_N >= 32
    win, head, first, q_row, q_real, k_row, k_real = _program_tokens(H, W, SHIFT_H, SHIFT_W, WH, WW, BLOCK_M, BLOCK_N)
    q_part = head * HEAD_DIM  # channel of this head's q; k and v follow at + C and + 2C
    k_off = k_row * (3 * C)
    qs = tl.load(q_scale)
    ks = tl.load(k_scale)
    ps = tl.load(p_scale)
    vs = tl.load(v_scale)
    qi = _load_head_quantized(qkv + q_part, qkv_b + q_part, q_row * (3 * C), q_real, scale,
                              tl.math.div_rn(1.0, qs), True, HEAD_DIM, QUANT)
    ki = _load_head_quantized(qkv + (C + q_part), qkv_b + (C + q_part), k_off, k_real, scale,
                              tl.math.div_rn(1.0, ks), False, HEAD_DIM, QUANT)
    vi = _load_head_quantized(qkv + (2 * C + q_part), qkv_b + (2 * C + q_part), k_off, k_real, scale,
                              tl.math.div_rn(1.0, vs), False, HEAD_DIM, QUANT)

    s = _quantized_dot(qi, tl.trans(ki), QUANT, INT8_DOT) * qs * ks
    s += _scores_extra(bias, mask, win, head, first, WH, WW, BLOCK_M, BLOCK_N, SHIFTED)
    p = tl.exp(s - tl.max(s, axis=1)[:, None])
    p = p / tl.sum(p, axis=1)[:, None]           # the fake quant quantizes the normalised probabilities
    pi = _quantize(p * tl.math.div_rn(1.0, ps), QUANT)
    o = _quantized_dot(pi, vi, QUANT, PV_MMA) * ps * vs
    oi = _quantize(o * tl.math.div_rn(1.0, tl.load(o_scale)), QUANT)   # the proj input, quantized for its linear

    d = tl.arange(0, HEAD_DIM)
    tl.store(out + q_part + q_row[:, None] * C + d[None, :], oi, mask=q_real[:, None])


@triton.jit
def swin_window_attention_int8(qkv, qkv_b, bias, mask, out, q_scale, k_scale, p_scale, v_scale, o_scale,
                               H, W, SHIFT_H, SHIFT_W, C, scale,
                               WH: tl.constexpr, WW: tl.constexpr, HEAD_DIM: tl.constexpr,
                               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, SHIFTED: tl.constexpr,
                               INT8_DOT: tl.constexpr):
    _quantized_attention(qkv, qkv_b, bias, mask, out, q_scale, k_scale, p_scale, v_scale, o_scale,
                         H, W, SHIFT_H, SHIFT_W, C, scale, WH, WW, HEAD_DIM, BLOCK_M, BLOCK_N, SHIFTED, INT8_DOT, 1)


@triton.jit
def swin_window_attention_fp8(qkv, qkv_b, bias, mask, out, q_scale, k_scale, p_scale, v_scale, o_scale,
                              H, W, SHIFT_H, SHIFT_W, C, scale,
                              WH: tl.constexpr, WW: tl.constexpr, HEAD_DIM: tl.constexpr,
                              BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, SHIFTED: tl.constexpr):
    _quantized_attention(qkv, qkv_b, bias, mask, out, q_scale, k_scale, p_scale, v_scale, o_scale,
                         H, W, SHIFT_H, SHIFT_W, C, scale, WH, WW, HEAD_DIM, BLOCK_M, BLOCK_N, SHIFTED, 1, 2)


# ---------------------------------------------------------------------------------------------------
# Variants for the ahead-of-time build (edge_swin/plugins/swin_window_attention/aot/build.py): shipped (mode, io) pairs only.

_POINTERS = ("qkv", "qkv_b", "bias", "mask", "out")
_WORKSPACE = ("qkv", "out")  # int8 / fp8 mode: 8-bit q/k/v in, 8-bit out (quantized with o_scale, the proj input's)
_SCALES = ("q_scale", "k_scale", "p_scale", "v_scale", "o_scale")
_RUNTIME_INTS = ("H", "W", "SHIFT_H", "SHIFT_W", "C")
_CONSTEXPRS = ("WH", "WW", "HEAD_DIM", "BLOCK_M", "BLOCK_N", "SHIFTED")
NO_INT8_MMA_SMS = (75,)  # Triton 3.8's AccelerateMatmul fails on an int8 tl.dot for sm_75 (measured)


def block_n(window: tuple[int, int]) -> int:
    return triton.next_power_of_2(window[0] * window[1])


def tile_for(window: tuple[int, int]) -> tuple[int, int]:
    """(BLOCK_M, num_warps) of a window, from TILES."""
    n = window[0] * window[1]
    if n not in TILES:
        raise ValueError(f"window {window} (N = {n}) has no kernel variant; supported windows: {WINDOWS}")
    return TILES[n]


def _archs(mode: str, io: str, n: int) -> tuple[int, ...] | None:
    """SMs a variant is built for: WINDOW_SMS's for its window, and for int8 with fp32 io spec.INT8_FP32_IO_SMS,
    for fp8 spec.FP8_SMS."""
    archs = WINDOW_SMS.get(n)
    only = FP8_SMS if mode == "fp8" else INT8_FP32_IO_SMS if mode == "int8" and io == "fp32" else None
    if only is not None:
        archs = tuple(sm for sm in (archs or only) if sm in only)
    return archs


def attention_variant(mode: str, window: tuple[int, int], shifted: bool, io: str | None = None,
                      block_m: int | None = None, num_warps: int | None = None) -> KernelVariant:
    """The KernelVariant of one (mode, io, window, shifted); block_m / num_warps override TILES (tests, tuning).

    io: the node's io type (qkv_b, bias, mask; and qkv, out in fp16 mode); default: the mode's first."""
    io = io or SHIPPED_IOS[mode][0]
    default_m, default_warps = tile_for(window)
    n = window[0] * window[1]
    ptr = POINTER_TYPES[io]
    quantized = mode in WORKSPACE_POINTERS
    signature = {name: WORKSPACE_POINTERS[mode] if quantized and name in _WORKSPACE else ptr for name in _POINTERS}
    if quantized:
        signature |= {name: "*fp32" for name in _SCALES}
    signature |= {name: "i32" for name in _RUNTIME_INTS}
    signature["scale"] = "fp32"
    signature |= {name: "constexpr" for name in _CONSTEXPRS}
    constexprs = {"WH": window[0], "WW": window[1], "HEAD_DIM": HEAD_DIM,
                  "BLOCK_M": block_m or default_m, "BLOCK_N": block_n(window), "SHIFTED": int(bool(shifted))}
    arch_constexprs = {75: {"BLOCK_M": SM75_BLOCK_M[n]}} if n in SM75_BLOCK_M and block_m is None else {}
    if mode == "int8":
        signature["INT8_DOT"] = "constexpr"
        constexprs["INT8_DOT"] = 1
        for sm in NO_INT8_MMA_SMS:
            arch_constexprs.setdefault(sm, {})["INT8_DOT"] = 0
    # Aligned pointers and C % 16 == 0 (C = heads * 32) let the compiler vectorise the head-dim loads;
    # the C++ launcher must check the alignment (TensorRT's tensors and workspaces are 256-byte aligned).
    attrs = {name: DIVISIBLE_16 for name in _POINTERS} | {"C": DIVISIBLE_16}
    return KernelVariant(family="window_attention", mode=mode, io=io, kernel=f"swin_window_attention_{mode}",
                         signature=signature, constexprs=constexprs, num_warps=num_warps or default_warps,
                         num_stages=NUM_STAGES, window=tuple(window), shifted=int(bool(shifted)), attrs=attrs,
                         arch_constexprs=arch_constexprs, archs=_archs(mode, io, n))


VARIANTS: tuple[KernelVariant, ...] = tuple(
    attention_variant(mode, window, shifted, io) for mode in MODES for io in SHIPPED_IOS[mode]
    for window in WINDOWS for shifted in (0, 1))

KERNELS = {"fp16": swin_window_attention_fp16, "int8": swin_window_attention_int8, "fp8": swin_window_attention_fp8}


# ---------------------------------------------------------------------------------------------------
# Python launcher: the same launch the C++ plugin makes, for tests (TRITON_INTERPRET=1 on CPU) and GPUs.

def _scale_tensor(value, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32, device=device).reshape(-1)
    if t.numel() != 1:
        raise ValueError(f"attention scales are per tensor (one value), got {t.numel()} values")
    return t.contiguous()


def window_attention(qkv: torch.Tensor, qkv_b: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor | None, *,
                     H: int, W: int, shift, C: int, scale: float, mode: str, scales=None,
                     block_m: int | None = None, num_warps: int | None = None, sm: int | None = None) -> torch.Tensor:
    """Launch the attention kernel on qkv [B, H, W, 3C] (or [B*H*W, 3C]) -> out [B, H, W, C].

    fp16 mode: qkv, qkv_b, bias, mask and out share one io dtype (fp16 or fp32).
    int8 mode: qkv is int8 (swin_qkv_int8's output: q pre-scaled and quantized with q_scale, k, v with theirs),
    qkv_b, bias, mask are of the node's io dtype (fp16 or fp32), and out is int8, quantized with o_scale (the
    proj input's scale); scales: (q, k, p, v, o) per-tensor scales.
    fp8 mode: the same with torch.float8_e4m3fn for int8 (swin_qkv_fp8's output in, fp8 out).
    bias [heads, N, N] (N = window area, which selects the window); mask [nW, N, N] for a shifted call
    (None when shift is 0); shift: int or (sh, sw).
    sm: compile with that SM's constexprs (e.g. 75: the fp16 route of the int8 products); default: the
    current GPU's, or the generic ones on a CPU (interpreter). block_m / num_warps override the tile.
    `out` starts as NaN (fp16 mode; int8 mode: -128, which a comparison with a reference shows as well), so
    anything the kernel fails to write shows up in a comparison.
    """
    if mode not in KERNELS:
        raise ValueError(f"mode {mode!r}: use one of {sorted(KERNELS)}")
    shift_h, shift_w = (shift, shift) if isinstance(shift, int) else (int(shift[0]), int(shift[1]))
    shifted = bool(shift_h or shift_w)
    if not (0 <= shift_h < H and 0 <= shift_w < W):
        raise ValueError(f"shift {shift} must be in [0, H) x [0, W) (the roll by -shift is folded in as (y + shift) mod H)")
    if C % HEAD_DIM:
        raise ValueError(f"C = {C} is not a multiple of the head dim {HEAD_DIM}")
    heads = C // HEAD_DIM
    n = bias.shape[-1]
    window = next((w for w in WINDOWS if w[0] * w[1] == n), None)
    if window is None or tuple(bias.shape) != (heads, n, n):
        raise ValueError(f"bias {tuple(bias.shape)} is not [heads={heads}, N, N] for a window in {WINDOWS}")
    if qkv.numel() % (H * W * 3 * C):
        raise ValueError(f"qkv {tuple(qkv.shape)} is not [B, {H}, {W}, {3 * C}]")
    batch = qkv.numel() // (H * W * 3 * C)
    n_windows = -(-H // window[0]) * -(-W // window[1])
    if shifted and (mask is None or tuple(mask.shape) != (n_windows, n, n)):
        raise ValueError(f"a shifted call needs mask [{n_windows}, {n}, {n}], got "
                         f"{None if mask is None else tuple(mask.shape)}")
    workspace = {"int8": torch.int8, "fp8": torch.float8_e4m3fn}.get(mode)
    if workspace is not None and (scales is None or len(scales) != 5):
        raise ValueError(f"{mode} mode needs scales=(q_scale, k_scale, p_scale, v_scale, o_scale)")
    io = qkv_b.dtype
    if io not in (torch.float16, torch.float32) or bias.dtype != io or (mask is not None and mask.dtype != io):
        raise ValueError(f"qkv_b, bias and mask must share one io dtype, float16 or float32; got {qkv_b.dtype}, "
                         f"{bias.dtype}, {None if mask is None else mask.dtype}")
    if qkv.dtype != (workspace or io):
        raise ValueError(f"qkv is {qkv.dtype}: {mode} mode takes "
                         f"{f'{workspace} q/k/v (swin_qkv_{mode})' if workspace is not None else io}")
    if mask is None:
        mask = bias  # never read by an unshifted variant; any pointer of the io type will do
    tensors = [t.contiguous() for t in (qkv, qkv_b, bias, mask)]
    if mode == "int8":
        out = torch.full((batch, H, W, C), -128, dtype=torch.int8, device=qkv.device)
    elif mode == "fp8":
        out = torch.full((batch, H, W, C), float("nan"), dtype=torch.float8_e4m3fn, device=qkv.device)
    else:
        out = torch.full((batch, H, W, C), float("nan"), dtype=io, device=qkv.device)

    variant = attention_variant(mode, window, shifted, io="fp32" if io == torch.float32 else "fp16",
                                block_m=block_m, num_warps=num_warps)
    if sm is None and qkv.is_cuda:
        major, minor = torch.cuda.get_device_capability(qkv.device)
        sm = major * 10 + minor
    constexprs = variant.constexprs_for(sm) if sm is not None else variant.constexprs
    grid = attention_grid(batch, n_windows, heads, n, constexprs["BLOCK_M"])
    args = [*tensors, out]
    if workspace is not None:
        args += [_scale_tensor(s, qkv.device) for s in scales]
    args += [H, W, shift_h, shift_w, C, float(scale)]
    KERNELS[mode][grid](*args, **constexprs, num_warps=variant.num_warps, num_stages=variant.num_stages)
    return out


def attention_grid(batch: int, n_windows: int, heads: int, n: int, block_m: int) -> tuple[int, int, int]:
    """The contract's grid: (B * nWh * nWw, heads, cdiv(N, BLOCK_M))."""
    return batch * n_windows, heads, triton.cdiv(n, block_m)
