"""The plugin's two projections (qkv and proj): y = x @ w^T + b, tiled, as Triton kernels.

Contract (edge_swin/plugins/README.md, "Kernel ABI"): `swin_linear_fp16` and
`swin_linear_int8`, x [M, K], w [N_OUT, K] (nn.Linear layout, row-major),
b [N_OUT], y [M, N_OUT], all of the variant's io dtype; grid
(cdiv(M, BLOCK_M), cdiv(N_OUT, BLOCK_N), 1). M = B*H*W, N_OUT and K are runtime
values and need not be multiples of the tiles: every load and store is masked.

fp16 mode: operands converted to fp16 on load (a no-op for fp16 io), fp16
tensor-core products, fp32 accumulation; y rounded once to the io dtype.

int8 mode (the arithmetic of the INT8 export's Q/DQ, edge_swin/export/function.py):
    xq = sat8(rne(x * (1 / x_scale)))      per tensor
    wq = sat8(rne(w * (1 / w_scale[n])))   per output row; w arrives on the int8 grid, so this is exact
    y  = (xq . wq) * x_scale * w_scale[n] + b[n]     int8 products, int32 accumulation
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

from edge_swin.plugins.kernels.int8 import rne_int8
from edge_swin.plugins.kernels.spec import DIVISIBLE_16, POINTER_TYPES, SHIPPED_IO, KernelVariant

# One tile for both modes: 64 rows x 32 output columns x 32 of K, 4 warps, no pipelining. BLOCK_N = 32
# divides every N_OUT of the node (C and 3C, C = heads * 32), so no column block is partly wasted; int8
# needs BLOCK_K >= 32 (the int8 mma's k). Registers from ptxas 12.9 (-v) with the variants' attrs,
# sm_75/80/86/87/89/90: fp16 200/62/56/56/56/44, int8 -/92/92/92/92/72, no spills anywhere. Rejected:
# 64x64x32 spills 612 bytes on sm_75 (Triton 3.8 has no mma there and falls back to FMA), 64x64x16
# spills 20 bytes on sm_86/87/89 (ptxas caps it at 64 registers). int8 does not compile for sm_75 in
# Triton 3.8 at all (its FMA fallback applies arith.extf to the int8 operands).
TILE = {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32}
NUM_WARPS = 4
NUM_STAGES = 1


@triton.jit
def swin_linear_fp16(x, w, b, y, M, N_OUT, K,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    row_ok, col_ok = rows < M, cols < N_OUT
    x_ptrs = x + rows.to(tl.int64)[:, None] * K + ks[None, :]       # [BLOCK_M, BLOCK_K]
    w_ptrs = w + cols.to(tl.int64)[:, None] * K + ks[None, :]       # [BLOCK_N, BLOCK_K]: w is [N_OUT, K]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + ks) < K
        xt = tl.load(x_ptrs, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        wt = tl.load(w_ptrs, mask=col_ok[:, None] & k_ok[None, :], other=0.0)
        acc = tl.dot(xt.to(tl.float16), tl.trans(wt.to(tl.float16)), acc)
        x_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    bias = tl.load(b + cols, mask=col_ok, other=0.0).to(tl.float32)
    out = acc + bias[None, :]
    y_ptrs = y + rows.to(tl.int64)[:, None] * N_OUT + cols[None, :]
    tl.store(y_ptrs, out.to(y.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def swin_linear_int8(x, w, b, y, x_scale, w_scale, M, N_OUT, K,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, INT8_DOT: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    row_ok, col_ok = rows < M, cols < N_OUT
    xs = tl.load(x_scale)
    ws = tl.load(w_scale + cols, mask=col_ok, other=1.0)   # 1.0 keeps masked columns finite
    inv_x = tl.math.div_rn(1.0, xs)
    inv_w = tl.math.div_rn(tl.full((BLOCK_N,), 1.0, tl.float32), ws)
    x_ptrs = x + rows.to(tl.int64)[:, None] * K + ks[None, :]       # [BLOCK_M, BLOCK_K]
    w_ptrs = w + cols.to(tl.int64)[:, None] * K + ks[None, :]       # [BLOCK_N, BLOCK_K]: w is [N_OUT, K]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + ks) < K
        xt = tl.load(x_ptrs, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        wt = tl.load(w_ptrs, mask=col_ok[:, None] & k_ok[None, :], other=0.0)
        xq = rne_int8(xt.to(tl.float32) * inv_x)
        wq = rne_int8(wt.to(tl.float32) * inv_w[:, None])
        if INT8_DOT:
            acc = tl.dot(xq, tl.trans(wq), acc, out_dtype=tl.int32)
        else:
            # sm_75 (Triton 3.8 has no int8 dot there): the same int8 values as fp16 operands. One K block's
            # sum is an integer of at most 32 * 128 * 128 = 2**19 < 2**24, exact in fp32, and is added to
            # the int32 accumulator block by block (a whole-K fp32 sum could pass 2**24 and round).
            acc += tl.dot(xq.to(tl.float16), tl.trans(wq.to(tl.float16))).to(tl.int32)
        x_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    bias = tl.load(b + cols, mask=col_ok, other=0.0).to(tl.float32)
    out = acc.to(tl.float32) * (xs * ws)[None, :] + bias[None, :]
    y_ptrs = y + rows.to(tl.int64)[:, None] * N_OUT + cols[None, :]
    tl.store(y_ptrs, out.to(y.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


# ---------------------------------------------------------------------------------------------------
# Variants for the ahead-of-time build (edge_swin/plugins/build.py): the shipped (mode, io) pairs.

_POINTERS = ("x", "w", "b", "y")
_SCALES = ("x_scale", "w_scale")
_RUNTIME_INTS = ("M", "N_OUT", "K")
KERNELS = {"fp16": swin_linear_fp16, "int8": swin_linear_int8}


def linear_variant(mode: str, io: str | None = None) -> KernelVariant:
    """The KernelVariant of one (mode, io)."""
    io = io or SHIPPED_IO[mode]
    signature = {name: POINTER_TYPES[io] for name in _POINTERS}
    if mode == "int8":
        signature |= {name: "*fp32" for name in _SCALES}
    signature |= {name: "i32" for name in _RUNTIME_INTS}
    signature |= {name: "constexpr" for name in TILE}
    constexprs, arch_constexprs = dict(TILE), {}
    if mode == "int8":
        signature["INT8_DOT"] = "constexpr"
        constexprs["INT8_DOT"] = 1
        arch_constexprs = {75: {"INT8_DOT": 0}}  # no int8 dot for sm_75 in Triton 3.8 (see the kernel)
    # The node's K and N_OUT are C or 3C with C = heads * 32, and TensorRT's tensors and workspaces are
    # 256-byte aligned: the cubins may assume 16-divisible pointers, K and N_OUT (vectorised row loads and
    # stores). The C++ launcher must check C % 16 == 0; M (= B*H*W) is arbitrary. The JIT kernel assumes nothing.
    attrs = {name: DIVISIBLE_16 for name in (*_POINTERS, *(_SCALES if mode == "int8" else ()), "N_OUT", "K")}
    return KernelVariant(family="linear", mode=mode, io=io, kernel=f"swin_linear_{mode}", signature=signature,
                         constexprs=constexprs, num_warps=NUM_WARPS, num_stages=NUM_STAGES, attrs=attrs,
                         arch_constexprs=arch_constexprs)


VARIANTS: tuple[KernelVariant, ...] = tuple(linear_variant(mode) for mode in ("fp16", "int8"))


# ---------------------------------------------------------------------------------------------------
# Python launcher: the same launch the C++ plugin makes, for tests (TRITON_INTERPRET=1 on CPU) and GPUs.

def _fp32_vector(value, device, name: str, numel: int) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32, device=device).reshape(-1).contiguous()
    if t.numel() != numel:
        raise ValueError(f"{name} must have {numel} value(s), got {t.numel()}")
    return t


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *, mode: str, x_scale=None,
           w_scale=None, sm: int | None = None) -> torch.Tensor:
    """y = x @ w^T + b through `swin_linear_<mode>`: x [..., K], w [N_OUT, K], b [N_OUT] -> y [..., N_OUT].

    x, w and b share one dtype (fp16 or fp32: the io type) and device; y has it too.
    int8 mode: x_scale (one value, per tensor) and w_scale ([N_OUT], per output row) as in the INT8 node's
    inputs 7/8 and 13/14; w is expected on the int8 grid (quantize-dequantized per row).
    `y` starts as NaN, so anything the kernel fails to write shows up in a comparison.
    sm: compile with that SM's constexprs (75: the fp16 route of the int8 dot); default: the current GPU's,
    or the generic ones on a CPU (interpreter).
    """
    if mode not in KERNELS:
        raise ValueError(f"mode {mode!r}: use one of {sorted(KERNELS)}")
    if x.dtype not in (torch.float16, torch.float32) or w.dtype != x.dtype or b.dtype != x.dtype:
        raise ValueError(f"x, w, b must share one io dtype, float16 or float32; got {x.dtype}, {w.dtype}, {b.dtype}")
    if w.ndim != 2 or x.shape[-1] != w.shape[1] or tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"shapes x {tuple(x.shape)}, w {tuple(w.shape)}, b {tuple(b.shape)}: need x [..., K], "
                         "w [N_OUT, K] (nn.Linear layout), b [N_OUT]")
    if not (x.device == w.device == b.device):
        raise ValueError(f"x, w, b are on {x.device}, {w.device}, {b.device}: put them on one device")
    n_out, k = w.shape
    m = x.numel() // k
    x2, w, b = x.reshape(m, k).contiguous(), w.contiguous(), b.contiguous()
    y = torch.full((m, n_out), float("nan"), dtype=x.dtype, device=x.device)
    args = [x2, w, b, y]
    if mode == "int8":
        if x_scale is None or w_scale is None:
            raise ValueError("int8 mode needs x_scale (per tensor) and w_scale (per output row)")
        args += [_fp32_vector(x_scale, x.device, "x_scale", 1), _fp32_vector(w_scale, x.device, "w_scale", n_out)]
    if m and n_out:
        variant = linear_variant(mode, io="fp32" if x.dtype == torch.float32 else "fp16")
        if sm is None and x.is_cuda:
            major, minor = torch.cuda.get_device_capability(x.device)
            sm = major * 10 + minor
        constexprs = variant.constexprs_for(sm) if sm is not None else variant.constexprs
        grid = (triton.cdiv(m, TILE["BLOCK_M"]), triton.cdiv(n_out, TILE["BLOCK_N"]), 1)
        KERNELS[mode][grid](*args, m, n_out, k, **constexprs, num_warps=NUM_WARPS, num_stages=NUM_STAGES)
    return y.reshape(*x.shape[:-1], n_out)
