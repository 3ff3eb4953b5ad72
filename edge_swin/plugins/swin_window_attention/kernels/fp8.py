"""What the FP8 kernels share: float32 -> fp8 e4m3 rounding as modelopt's FP8 fake quantization does it.

modelopt (FP8_DEFAULT_CFG, `tensor_quant._fp8_eager`) computes `(x * (448 / amax)).clamp(-448, 448)` in
float32, then casts to torch.float8_e4m3fn: round to nearest, ties to even, on the e4m3 grid (3 mantissa
bits; subnormals step 2**-9 below 2**-6; 448 the largest finite value). `rne_e4m3` does the same rounding
in float32 arithmetic and only then casts: the cast of a value already on the grid is exact on a GPU
(cvt.rn.satfinite) and in Triton's interpreter, whose own float32 -> fp8 cast rounds ties away from zero,
flushes subnormals and turns values past 448 into NaN (Triton 3.8, measured), so the interpreter computes
what the GPU does. Clamp first, then round: the clamp also keeps the multiply that precedes a call from
contracting with the add into an FMA.

The rounding is the INT8 kernels' magic-number trick with a per-element quantum: for |t| in
[2**e, 2**(e+1)), e >= -6, the e4m3 step is 2**(e-3); adding M = 1.5 * 2**(e+20) puts t + M in a binade
whose float32 step is exactly that, so the add rounds t to a multiple of the step (nearest even), and the
subtract is exact. Below 2**-6 (subnormal e4m3) e = -6. -0.0 and tiny negatives come out +0.0 (equal as
numbers to torch's -0.0). build.py checks that the add/subtract survive into the PTX of every fp8 cubin.
"""
from __future__ import annotations

import triton
import triton.language as tl

E4M3_MAX = tl.constexpr(448.0)
_MIN_NORMAL_EXP = tl.constexpr(121)  # biased float32 exponent of 2**-6, e4m3's smallest normal


@triton.jit
def rne_e4m3(t):
    """float32 -> fp8 e4m3 (tl.float8e4nv), saturating at +-448, round half to even (torch's cast after a clamp)."""
    t = tl.minimum(tl.maximum(t, -E4M3_MAX), E4M3_MAX)
    exp = tl.maximum((t.to(tl.int32, bitcast=True) >> 23) & 0xFF, _MIN_NORMAL_EXP)
    # 1.5 * 2**(e + 20) with e = exp - 127: biased exponent exp + 20, top mantissa bit set
    magic = (((exp + 20) << 23) | 0x400000).to(tl.float32, bitcast=True)
    return ((t + magic) - magic).to(tl.float8e4nv)


@triton.jit
def load_fp8(ptr, offsets, mask):
    """tl.load of fp8 e4m3 values with 0.0 where `mask` is off: loaded as bytes (byte 0 is +0.0 in e4m3), since
    Triton's interpreter cannot cast the `other` value to fp8."""
    raw = tl.load(ptr.to(tl.pointer_type(tl.int8)) + offsets, mask=mask, other=0)
    return raw.to(tl.float8e4nv, bitcast=True)
