"""Triton kernels of the plugin. Each module in KERNEL_MODULES exposes `VARIANTS` (spec.KernelVariant) for build.py.

Importing this package does not import Triton: the tests must set TRITON_INTERPRET before the kernel modules load.
"""

KERNEL_MODULES = ("edge_swin.plugins.kernels.window_attention", "edge_swin.plugins.kernels.linear")
