"""What the INT8 kernels share: float32 -> int8 rounding as modelopt's fake quantization does it.

Rounding half to even without libdevice (the interpreter cannot run extern calls): clamp to
[-128, 127] first, then (t + 1.5 * 2**23) - 1.5 * 2**23. In [2**23, 2**24) float32 steps are exactly 1,
so the add rounds t to an integer in the current mode (nearest even) and the subtract is exact. The
clamp sits between the multiply and the add so they cannot be contracted into one FMA (which would
round the exact product instead of the float32 one torch rounds). sat8(rne(t)) == rne(sat8(t)) because
-128 and 127 are integers. build.py checks that the trick survives into the PTX of every int8 cubin.
"""
from __future__ import annotations

import triton
import triton.language as tl

# 1.5 * 2**23: adding it to |t| <= 2**22 leaves t rounded to an integer.
RNE_MAGIC = tl.constexpr(12582912.0)


@triton.jit
def rne_int8(t):
    """float32 -> int8, saturating, round half to even."""
    t = tl.minimum(tl.maximum(t, -128.0), 127.0)
    return ((t + RNE_MAGIC) - RNE_MAGIC).to(tl.int8)
