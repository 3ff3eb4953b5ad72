"""The plugin's two projections (qkv and proj): y = x @ w^T + b, tiled, as Triton kernels.

Contract (edge_swin/plugins/swin_window_attention/README.md, "Kernel ABI"), w [N_OUT, K] (nn.Linear layout, row-major), b [N_OUT]:
  swin_linear_fp16(x, w, b, y, M, N_OUT, K)                          x, y [M, *] of the io dtype
  swin_linear_int8(x, w, b, y, x_scale, w_scale, M, N_OUT, K)        x io dtype or int8 (already quantized
                                                                     with x_scale), y io dtype
  swin_qkv_int8(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, C, scale)
                                                                     x [M, C] io, qkv [M, 3C] int8: the INT8
                                                                     node's q (pre-scaled), k, v quantized
  swin_linear_fp8(x, w, b, y, x_scale, w_scale, M, N_OUT, K)         as int8, x fp8 e4m3, w_scale per tensor
  swin_qkv_fp8(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, C, scale)
                                                                     as qkv_int8, qkv [M, 3C] fp8 e4m3,
                                                                     w_scale per tensor
grid (cdiv(M, BLOCK_M), 1, 1): each program produces all N_OUT columns of its BLOCK_M rows (TILES). M = B*H*W,
N_OUT and K are runtime values and need not be multiples of the tiles: every load and store is masked.

fp16 mode: operands converted to fp16 on load (a no-op for fp16 io), fp16
tensor-core products, fp32 accumulation; y rounded once to the io dtype.

int8 mode (the arithmetic of the INT8 export's Q/DQ, edge_swin/export/function.py):
    xq = sat8(rne(x * (1 / x_scale)))      per tensor
    wq = sat8(rne(w * (1 / w_scale[n])))   per output row; w arrives on the int8 grid, so this is exact
    y  = (xq . wq) * x_scale * w_scale[n] + b[n]     int8 products, int32 accumulation
fp8 mode (the FP8 node, modelopt FP8_DEFAULT_CFG: E4M3, every scale per tensor, s = amax / 448):
    xq = e4m3(sat448(x * (1 / x_scale))),  wq = w   (the node's weight inputs are fp8: the e4m3 values)
    y  = (xq . wq) * x_scale * w_scale + b     fp8 tensor-core products, fp32 accumulation
e4m3() rounds to nearest even in float32 first (kernels/fp8.py), so the cast to fp8 is exact.

`x * (1 / s)` rather than `x / s`: it is what torch's fake_quantize_per_*_affine (modelopt's and the
tests' reference) computes in fp32, so the emulation reproduces the module's integers, and on the GPU a
multiply instead of Triton's approximate `div.full.f32`. The reciprocal itself is `div_rn` (IEEE).

Rounding half to even without libdevice (the interpreter cannot run extern calls): clamp to
[-128, 127] first, then (t + 1.5 * 2**23) - 1.5 * 2**23. In [2**23, 2**24) float32 steps are exactly 1,
so the add rounds t to an integer in the current mode (nearest even) and the subtract is exact. The
clamp sits between the multiply and the add so they cannot be contracted into one FMA (which would
round the exact product instead of the float32 one torch rounds). sat8(rne(t)) == rne(sat8(t)) because
-128 and 127 are integers.

Index arithmetic is int64 for the row offsets: M * K passes 2**31 at large batches (Swin-L 384,
stage 1: M * 3C = 5.3M elements per image).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from edge_swin.plugins.swin_window_attention.kernels.fp8 import load_fp8, rne_e4m3
from edge_swin.plugins.swin_window_attention.kernels.int8 import rne_int8
from edge_swin.plugins.swin_window_attention.kernels.spec import (
    DIVISIBLE_16,
    FP8_SMS,
    INT8_FP32_IO_SMS,
    POINTER_TYPES,
    SHIPPED_IOS,
    WORKSPACE_POINTERS,
    KernelVariant,
)

# Tiles per SM: (BLOCK_M, BLOCK_N, BLOCK_K, num_warps). The grid is (cdiv(M, BLOCK_M), 1, 1): a program owns
# BLOCK_M rows and produces every output column, looping over N_OUT in BLOCK_N steps, so x is read from memory
# once (the old 64 x 32 grid tile read x N_OUT / 32 times, which made the linears lose to cuBLAS). The rows'
# first BLOCK_K columns are loaded (and, int8, quantized) once, before the N loop: for K <= BLOCK_K (C = 96 or
# 128: stage 1 of Swin-T/S/B, where most tokens are) their whole K; the rest of a larger K is re-read per N step
# from L1/L2, the program's own recent reads. BLOCK_N = 32 divides every N_OUT of the node (C and 3C, C = heads
# * 32). sm_90: 128 rows, 8 warps (two warpgroups of Hopper's wgmma, which Triton uses there: HGMMA / IGMMA in
# the SASS). sm_80-89: 64 rows (mma.sync). sm_75: Triton 3.8 has no mma there and lowers tl.dot to
# FMAs: 32-wide K tiles (larger ones need far more registers there). int8 needs BLOCK_K >= 32 (the int8
# mma's k). 8 warps (one exception, TILE_EXCEPTIONS): with 4, the resident x tile took 124-219 registers on
# sm_80, with 8 80-128. Registers from ptxas 12.9 (release build, no spill anywhere), sm_75 / sm_80 / sm_86-89 /
# sm_90: linear_fp16_fp16io 190/80/80/115, qkv_linear_int8_fp16io 199/98/98/123, qkv_linear_int8_fp32io
# 201/128/127/172, linear_int8_fp16io 193/80/80/97, linear_int8_fp32io 195/126/128/118 (4 warps on sm_80-89).
# SASS (cuobjdump --dump-sass): HGMMA / IGMMA on sm_90, HMMA / IMMA on sm_80-89. Speed: not measured (no GPU).
TILES = {75: (64, 32, 32, 8), 80: (64, 32, 128, 8), 86: (64, 32, 128, 8), 87: (64, 32, 128, 8),
         89: (64, 32, 128, 8), 90: (128, 32, 128, 8), 110: (128, 32, 128, 8)}
# (kernel, io, sm) -> tile where the SM's default does not fit: ptxas 12.9 holds swin_linear_int8 with fp32 y at
# 80 registers with 8 warps on sm_80-89 and spills 8 bytes; with 4 warps it takes 126 and does not.
TILE_EXCEPTIONS = {("int8", "fp32", sm): (64, 32, 128, 4) for sm in (80, 86, 87, 89)}
DEFAULT_SM = 80  # the tile the interpreter (no GPU) and an SM missing from TILES use
NUM_STAGES = 1
# QUANT constexpr of _linear_body: the products' operands (0: fp16, 1: int8, 2: fp8 e4m3)
_FP16, _INT8, _FP8 = 0, 1, 2


@triton.jit
def _load_rows(ptr, rows, row_ok, k0, K, BLOCK_K: tl.constexpr):
    """[len(rows), BLOCK_K] of a row-major [*, K] matrix, columns k0.., zero outside."""
    ks = k0 + tl.arange(0, BLOCK_K)
    offsets = rows.to(tl.int64)[:, None] * K + ks[None, :]
    ok = row_ok[:, None] & (ks < K)[None, :]
    if ptr.dtype.element_ty == tl.float8e4nv:
        return load_fp8(ptr, offsets, ok)
    else:
        return tl.load(ptr + offsets, mask=ok, other=0)


@triton.jit
def _operand(t, inv, QUANT: tl.constexpr):
    """A tile as the product's operand: fp16, int8 (kept if it already is, else sat8(rne(t * inv))) or fp8 e4m3
    (kept if it already is, else e4m3(sat448(t * inv)))."""
    if QUANT == 1:
        if t.dtype == tl.int8:
            return t
        else:
            return rne_int8(t.to(tl.float32) * inv)
    elif QUANT == 2:
        if t.dtype == tl.float8e4nv:
            return t
        else:
            return rne_e4m3(t.to(tl.float32) * inv)
    else:
        return t.to(tl.float16)


@triton.jit
def _mma(a, w_tile, acc, QUANT: tl.constexpr, INT8_DOT: tl.constexpr):
    """acc + a . w_tile^T: fp16 or fp8 with fp32 accumulation, or exact int32 for int8 operands."""
    if QUANT == 1:
        if INT8_DOT:
            return tl.dot(a, tl.trans(w_tile), acc, out_dtype=tl.int32)
        else:
            # sm_75 (Triton 3.8 has no int8 dot there): the same int8 values as fp16 operands. One K block's
            # sum is an integer of at most 128 * 128 * 128 = 2**21 < 2**24, exact in fp32, and is added to the
            # int32 accumulator block by block (a whole-K fp32 sum could pass 2**24 and round).
            return acc + tl.dot(a.to(tl.float16), tl.trans(w_tile.to(tl.float16))).to(tl.int32)
    else:
        return tl.dot(a, tl.trans(w_tile), acc)


@triton.jit
def _epilogue(acc, y, b, rows, row_ok, cols, col_ok, xs, ws, N_OUT, C, scale, inv_q, inv_k, inv_v,
              QUANT: tl.constexpr, QKV: tl.constexpr):
    """Bias (and dequantization) of one [BLOCK_M, BLOCK_N] block; the quantized nodes' qkv quantizes q/k/v here."""
    bias = tl.load(b + cols, mask=col_ok, other=0.0).to(tl.float32)
    if QUANT == 0:
        out = acc + bias[None, :]
    else:
        out = acc.to(tl.float32) * (xs * ws)[None, :] + bias[None, :]
    if QKV:
        # The attention's operands, as the fake-quant block makes them from the float qkv:
        # q: quant(q * scale * (1 / q_scale)), k: quant(k * (1 / k_scale)), v likewise (quant: int8 or e4m3).
        is_q = cols < C
        inv = tl.where(is_q, inv_q, tl.where(cols < 2 * C, inv_k, inv_v))
        t = tl.where(is_q[None, :], out * scale, out) * inv[None, :]
        if QUANT == 2:
            val = rne_e4m3(t)
        else:
            val = rne_int8(t)
    else:
        val = out.to(y.dtype.element_ty)
    tl.store(y + rows.to(tl.int64)[:, None] * N_OUT + cols[None, :], val, mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _column_block(w, w_scale, n0, N_OUT, BLOCK_N: tl.constexpr, QUANT: tl.constexpr):
    """Columns n0.., their mask, and (int8: per row, fp8: per tensor) the weight scale and its reciprocal."""
    cols = n0 + tl.arange(0, BLOCK_N)
    col_ok = cols < N_OUT
    if QUANT == 1:
        ws = tl.load(w_scale + cols, mask=col_ok, other=1.0).to(tl.float32)   # 1.0 keeps masked columns finite
        inv_w = tl.math.div_rn(tl.full((BLOCK_N,), 1.0, tl.float32), ws)
    elif QUANT == 2:
        ws = tl.full((BLOCK_N,), 0.0, tl.float32) + tl.load(w_scale).to(tl.float32)
        inv_w = tl.math.div_rn(tl.full((BLOCK_N,), 1.0, tl.float32), ws)
    else:
        ws = tl.full((BLOCK_N,), 1.0, tl.float32)
        inv_w = ws
    return cols, col_ok, ws, inv_w


@triton.jit
def _linear_body(x, w, b, y, x_scale, w_scale, q_scale, k_scale, v_scale, M, N_OUT, K, C, scale,
                 QUANT: tl.constexpr, QKV: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_K: tl.constexpr, INT8_DOT: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    if QUANT != 0:
        xs = tl.load(x_scale).to(tl.float32)
        inv_x = tl.math.div_rn(1.0, xs)
    else:
        xs = 1.0
        inv_x = 1.0
    if QUANT == 1:
        acc_type: tl.constexpr = tl.int32
    else:
        acc_type: tl.constexpr = tl.float32
    if QKV:
        inv_q = tl.math.div_rn(1.0, tl.load(q_scale).to(tl.float32))
        inv_k = tl.math.div_rn(1.0, tl.load(k_scale).to(tl.float32))
        inv_v = tl.math.div_rn(1.0, tl.load(v_scale).to(tl.float32))
    else:
        inv_q = 1.0
        inv_k = 1.0
        inv_v = 1.0
    # The rows' first BLOCK_K columns of x, read (and quantized) once for all N_OUT columns: for K <= BLOCK_K
    # that is their whole K and the inner loop below never runs.
    x0 = _operand(_load_rows(x, rows, row_ok, 0, K, BLOCK_K), inv_x, QUANT)
    for n0 in range(0, N_OUT, BLOCK_N):
        cols, col_ok, ws, inv_w = _column_block(w, w_scale, n0, N_OUT, BLOCK_N, QUANT)
        w0 = _operand(_load_rows(w, cols, col_ok, 0, K, BLOCK_K), inv_w[:, None], QUANT)
        acc = _mma(x0, w0, tl.zeros((BLOCK_M, BLOCK_N), dtype=acc_type), QUANT, INT8_DOT)
        for k0 in range(BLOCK_K, K, BLOCK_K):  # K > BLOCK_K: the rest of K, re-read per column block
            xt = _operand(_load_rows(x, rows, row_ok, k0, K, BLOCK_K), inv_x, QUANT)
            wt = _operand(_load_rows(w, cols, col_ok, k0, K, BLOCK_K), inv_w[:, None], QUANT)
            acc = _mma(xt, wt, acc, QUANT, INT8_DOT)
        _epilogue(acc, y, b, rows, row_ok, cols, col_ok, xs, ws, N_OUT, C, scale, inv_q, inv_k, inv_v, QUANT, QKV)


@triton.jit
def swin_linear_fp16(x, w, b, y, M, N_OUT, K,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    _linear_body(x, w, b, y, b, b, b, b, b, M, N_OUT, K, 0, 1.0, 0, False, BLOCK_M, BLOCK_N, BLOCK_K, 0)


@triton.jit
def swin_linear_int8(x, w, b, y, x_scale, w_scale, M, N_OUT, K,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, INT8_DOT: tl.constexpr):
    _linear_body(x, w, b, y, x_scale, w_scale, x_scale, x_scale, x_scale, M, N_OUT, K, 0, 1.0, 1, False,
                 BLOCK_M, BLOCK_N, BLOCK_K, INT8_DOT)


@triton.jit
def swin_qkv_int8(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, C, scale,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, INT8_DOT: tl.constexpr):
    _linear_body(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, 3 * C, C, C, scale, 1, True,
                 BLOCK_M, BLOCK_N, BLOCK_K, INT8_DOT)


@triton.jit
def swin_linear_fp8(x, w, b, y, x_scale, w_scale, M, N_OUT, K,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    _linear_body(x, w, b, y, x_scale, w_scale, x_scale, x_scale, x_scale, M, N_OUT, K, 0, 1.0, 2, False,
                 BLOCK_M, BLOCK_N, BLOCK_K, 0)


@triton.jit
def swin_qkv_fp8(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, C, scale,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    _linear_body(x, w, b, qkv, x_scale, w_scale, q_scale, k_scale, v_scale, M, 3 * C, C, C, scale, 2, True,
                 BLOCK_M, BLOCK_N, BLOCK_K, 0)


# ---------------------------------------------------------------------------------------------------
# Variants for the ahead-of-time build (edge_swin/plugins/swin_window_attention/aot/build.py): what the plugin's two nodes launch.
#   FP16 node (fp16 io):        swin_linear_fp16 for qkv and proj
#   INT8 node (fp16 or fp32 io): swin_qkv_int8 (x io -> int8 q/k/v), then, after the attention,
#                               swin_linear_int8 with int8 x (the attention's quantized output) -> y io
#   FP8 node (fp16 io; FP8_SMS only): swin_qkv_fp8 (x fp16 -> fp8 q/k/v), then swin_linear_fp8 with fp8 x

KERNELS = {"fp16": swin_linear_fp16, "int8": swin_linear_int8, "qkv_int8": swin_qkv_int8,
           "fp8": swin_linear_fp8, "qkv_fp8": swin_qkv_fp8}
INT8_IOS = SHIPPED_IOS["int8"]  # the INT8 node's io: fp16 in an FP16+INT8 engine, fp32 in an FP32 Q/DQ graph
FP8_IOS = SHIPPED_IOS["fp8"]
_TILE_NAMES = ("BLOCK_M", "BLOCK_N", "BLOCK_K")
_QKV_SCALES = ("x_scale", "w_scale", "q_scale", "k_scale", "v_scale")
_SCALE_POINTERS = {"int8": ("x_scale", "w_scale"), "qkv_int8": _QKV_SCALES,
                   "fp8": ("x_scale", "w_scale"), "qkv_fp8": _QKV_SCALES}


def _mode(kind: str) -> str:
    """The node mode (spec.MODES) a linear kind (KERNELS key) belongs to."""
    return kind.removeprefix("qkv_")


def _tile(sm: int | None, kind: str, io: str) -> tuple[int, int, int, int]:
    sm = sm if sm in TILES else DEFAULT_SM
    return TILE_EXCEPTIONS.get((kind, io, sm), TILES[sm])


def tile_for(sm: int | None, kind: str = "fp16", io: str = "fp16") -> dict[str, int]:
    """{BLOCK_M, BLOCK_N, BLOCK_K} of a kernel (KERNELS key) and io for an SM (TILES and TILE_EXCEPTIONS;
    DEFAULT_SM's for None or an SM not in TILES)."""
    return dict(zip(_TILE_NAMES, _tile(sm, kind, io)[:3]))


def num_warps_for(sm: int | None, kind: str = "fp16", io: str = "fp16") -> int:
    return _tile(sm, kind, io)[3]


def linear_variant(kind: str, io: str, x_type: str | None = None) -> KernelVariant:
    """The KernelVariant of `swin_linear_<kind>` ("fp16", "int8", "fp8") or `swin_qkv_<mode>` ("qkv_int8", "qkv_fp8").

    io: the dtype of w, b and y (and of x, unless x_type says otherwise: "i8" / "fp8e4nv" for the proj of the
    INT8 / FP8 node).
    Tiles, warps per SM from TILES (arch_constexprs / arch_num_warps over the DEFAULT_SM tile).
    """
    if kind not in KERNELS:
        raise ValueError(f"linear kind {kind!r}: use one of {sorted(KERNELS)}")
    io_ptr = POINTER_TYPES[io]
    mode = _mode(kind)
    w_ptr = WORKSPACE_POINTERS[mode] if mode == "fp8" else io_ptr  # the FP8 node's weights are fp8 tensors
    if kind.startswith("qkv_"):
        signature = {"x": io_ptr, "w": w_ptr, "b": io_ptr, "qkv": WORKSPACE_POINTERS[mode]}
    else:
        signature = {"x": f"*{x_type}" if x_type else io_ptr, "w": w_ptr, "b": io_ptr, "y": io_ptr}
    signature |= {name: "*fp32" for name in _SCALE_POINTERS.get(kind, ())}
    signature |= {"M": "i32", "C": "i32", "scale": "fp32"} if kind.startswith("qkv_") else \
        {"M": "i32", "N_OUT": "i32", "K": "i32"}
    signature |= {name: "constexpr" for name in _TILE_NAMES}
    constexprs = tile_for(DEFAULT_SM, kind, io)
    arch_constexprs = {sm: tile_for(sm, kind, io) for sm in TILES if tile_for(sm, kind, io) != constexprs}
    if mode == "int8":
        signature["INT8_DOT"] = "constexpr"
        constexprs["INT8_DOT"] = 1
        arch_constexprs.setdefault(75, {})["INT8_DOT"] = 0  # no int8 dot for sm_75 in Triton 3.8 (_mma)
    # The node's K and N_OUT are C or 3C with C = heads * 32, and TensorRT's tensors and workspaces are
    # 256-byte aligned: the cubins may assume 16-divisible pointers, K, N_OUT and C (vectorised row loads and
    # stores). The C++ launcher must check C % 16 == 0; M (= B*H*W) is arbitrary. The JIT kernel assumes nothing.
    attrs = {name: DIVISIBLE_16 for name, ty in signature.items() if ty.startswith("*") or name in ("N_OUT", "K", "C")}
    family = "qkv_linear" if kind.startswith("qkv_") else "linear"
    default_warps = num_warps_for(DEFAULT_SM, kind, io)
    warps = {sm: num_warps_for(sm, kind, io) for sm in TILES if num_warps_for(sm, kind, io) != default_warps}
    archs = FP8_SMS if mode == "fp8" else INT8_FP32_IO_SMS if mode == "int8" and io == "fp32" else None
    return KernelVariant(family=family, mode=mode, io=io, kernel=KERNELS[kind].__name__,
                         signature=signature, constexprs=constexprs, num_warps=default_warps,
                         num_stages=NUM_STAGES, attrs=attrs, arch_constexprs=arch_constexprs,
                         arch_num_warps=warps, archs=archs)


VARIANTS: tuple[KernelVariant, ...] = (
    linear_variant("fp16", "fp16"),
    *(linear_variant("qkv_int8", io) for io in INT8_IOS),
    *(linear_variant("int8", io, x_type="i8") for io in INT8_IOS),
    *(linear_variant("qkv_fp8", io) for io in FP8_IOS),
    *(linear_variant("fp8", io, x_type="fp8e4nv") for io in FP8_IOS),
)


# ---------------------------------------------------------------------------------------------------
# Python launchers: the same launches the C++ plugin makes, for tests (TRITON_INTERPRET=1 on CPU) and GPUs.

_WORKSPACE_DTYPES = {"int8": torch.int8, "fp8": torch.float8_e4m3fn}  # the quantized nodes' 8-bit workspaces


def _fp32_vector(value, device, name: str, numel: int) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32, device=device).reshape(-1).contiguous()
    if t.numel() != numel:
        raise ValueError(f"{name} must have {numel} value(s), got {t.numel()}")
    return t


def _device_sm(t: torch.Tensor, sm: int | None) -> int | None:
    if sm is None and t.is_cuda:
        major, minor = torch.cuda.get_device_capability(t.device)
        sm = major * 10 + minor
    return sm


def _launch(kind: str, args, m: int, sm: int | None, device_tensor: torch.Tensor, io: torch.dtype) -> None:
    """Grid (cdiv(M, BLOCK_M), 1, 1) with the SM's tile (sm None on a CPU: the DEFAULT_SM tile)."""
    sm = _device_sm(device_tensor, sm)
    io_name = "fp32" if io == torch.float32 else "fp16"
    constexprs = tile_for(sm, kind, io_name)
    if _mode(kind) == "int8":
        constexprs["INT8_DOT"] = 0 if sm == 75 else 1
    KERNELS[kind][(triton.cdiv(m, constexprs["BLOCK_M"]), 1, 1)](
        *args, **constexprs, num_warps=num_warps_for(sm, kind, io_name), num_stages=NUM_STAGES)


def _check_weights(x, w, b, x_dtypes, mode: str = "fp16") -> None:
    if mode == "fp8":  # the FP8 node's weights are its e4m3 values; b (and y) fp16
        if w.dtype != torch.float8_e4m3fn or b.dtype != torch.float16 or x.dtype not in x_dtypes:
            raise ValueError(f"fp8 mode takes w as torch.float8_e4m3fn (the e4m3 values of w / w_scale), b float16 "
                             f"and x one of {x_dtypes}; got x {x.dtype}, w {w.dtype}, b {b.dtype}")
    elif w.dtype not in (torch.float16, torch.float32) or b.dtype != w.dtype or x.dtype not in x_dtypes:
        raise ValueError(f"w and b must share one io dtype, float16 or float32, and x be one of {x_dtypes}; "
                         f"got x {x.dtype}, w {w.dtype}, b {b.dtype}")
    if w.ndim != 2 or x.shape[-1] != w.shape[1] or tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"shapes x {tuple(x.shape)}, w {tuple(w.shape)}, b {tuple(b.shape)}: need x [..., K], "
                         "w [N_OUT, K] (nn.Linear layout), b [N_OUT]")
    if not (x.device == w.device == b.device):
        raise ValueError(f"x, w, b are on {x.device}, {w.device}, {b.device}: put them on one device")


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *, mode: str, x_scale=None,
           w_scale=None, sm: int | None = None) -> torch.Tensor:
    """y = x @ w^T + b through `swin_linear_<mode>`: x [..., K], w [N_OUT, K], b [N_OUT] -> y [..., N_OUT].

    w and b share one dtype (fp16 or fp32: the io type) and device; y has it too. fp16 mode: x has it too.
    int8 mode: x is float (io dtype; quantized on load with x_scale) or int8 (already quantized with x_scale:
    the INT8 node's proj reads the attention's int8 output); x_scale (one value, per tensor) and w_scale
    ([N_OUT], per output row) as in the INT8 node's inputs 7/8 and 13/14; w is expected on the int8 grid
    (quantize-dequantized per row).
    `y` starts as NaN, so anything the kernel fails to write shows up in a comparison.
    fp8 mode: as int8 with the FP8 node's types: x fp16 (io) or torch.float8_e4m3fn (the FP8 node's proj reads
    the attention's fp8 output), w torch.float8_e4m3fn (the e4m3 values of w / w_scale: the FP8 node's weight
    inputs), b and y fp16; w_scale is per tensor (one value) like x_scale.
    sm: use that SM's tile and constexprs (75: the fp16 route of the int8 dot); default: the current GPU's,
    or DEFAULT_SM's on a CPU (interpreter).
    """
    if mode not in ("fp16", "int8", "fp8"):
        raise ValueError(f"mode {mode!r}: use one of ['fp16', 'int8', 'fp8']")
    _check_weights(x, w, b, (b.dtype, _WORKSPACE_DTYPES[mode]) if mode in _WORKSPACE_DTYPES else (b.dtype,), mode)
    n_out, k = w.shape
    m = x.numel() // k
    x2, w, b = x.reshape(m, k).contiguous(), w.contiguous(), b.contiguous()
    y = torch.full((m, n_out), float("nan"), dtype=b.dtype, device=x.device)
    args = [x2, w, b, y]
    if mode != "fp16":
        if x_scale is None or w_scale is None:
            raise ValueError(f"{mode} mode needs x_scale (per tensor) and w_scale "
                             f"({'per output row' if mode == 'int8' else 'per tensor'})")
        args += [_fp32_vector(x_scale, x.device, "x_scale", 1),
                 _fp32_vector(w_scale, x.device, "w_scale", n_out if mode == "int8" else 1)]
    if m and n_out:
        _launch(mode, [*args, m, n_out, k], m, sm, x, b.dtype)
    return y.reshape(*x.shape[:-1], n_out)


def qkv_int8(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *, x_scale, w_scale, q_scale, k_scale, v_scale,
             scale: float, sm: int | None = None) -> torch.Tensor:
    """The INT8 node's qkv projection through `swin_qkv_int8`: x [..., C] (io dtype) -> int8 qkv [..., 3C].

    qkv[..., :C] = sat8(rne(q * scale / q_scale)), then k / k_scale and v / v_scale, where q | k | v =
    x_q @ w^T + b computed as in `linear(mode="int8")` (x quantized with x_scale, w on the int8 grid with
    per-row w_scale [3C]). These are the attention's int8 operands (kernels/window_attention.py).
    """
    return quantized_qkv(x, w, b, mode="int8", x_scale=x_scale, w_scale=w_scale, q_scale=q_scale, k_scale=k_scale,
                         v_scale=v_scale, scale=scale, sm=sm)


def quantized_qkv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *, mode: str, x_scale, w_scale, q_scale,
                  k_scale, v_scale, scale: float, sm: int | None = None) -> torch.Tensor:
    """A quantized node's qkv projection through `swin_qkv_<mode>`: x [..., C] (io dtype) -> qkv [..., 3C] of the
    mode's workspace dtype (int8, or torch.float8_e4m3fn for "fp8": e4m3(sat448(q * scale / q_scale)), ...,
    w the torch.float8_e4m3fn values of w / w_scale, per-tensor w_scale, b fp16). See qkv_int8."""
    if mode not in _WORKSPACE_DTYPES:
        raise ValueError(f"mode {mode!r}: use one of {sorted(_WORKSPACE_DTYPES)}")
    _check_weights(x, w, b, (b.dtype,), mode)
    n_out, c = w.shape
    if n_out != 3 * c:
        raise ValueError(f"w is {tuple(w.shape)}: the qkv weight is [3C, C]")
    m = x.numel() // c
    qkv = torch.zeros((m, n_out), dtype=_WORKSPACE_DTYPES[mode], device=x.device)
    dev = x.device
    scales = [_fp32_vector(x_scale, dev, "x_scale", 1),
              _fp32_vector(w_scale, dev, "w_scale", n_out if mode == "int8" else 1),
              *(_fp32_vector(s, dev, name, 1) for s, name in ((q_scale, "q_scale"), (k_scale, "k_scale"),
                                                              (v_scale, "v_scale")))]
    if m:
        _launch(f"qkv_{mode}", [x.reshape(m, c).contiguous(), w.contiguous(), b.contiguous(), qkv, *scales, m, c,
                             float(scale)], m, sm, x, b.dtype)
    return qkv.reshape(*x.shape[:-1], n_out)
