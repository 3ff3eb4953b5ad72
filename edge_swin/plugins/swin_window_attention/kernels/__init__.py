"""Triton kernels of the plugin. Each module in KERNEL_MODULES exposes `VARIANTS` (spec.KernelVariant) for aot/build.py.

Importing this package does not import Triton: the tests must set TRITON_INTERPRET before the kernel modules load.
"""

KERNEL_MODULES = ("edge_swin.plugins.swin_window_attention.kernels.window_attention",
                  "edge_swin.plugins.swin_window_attention.kernels.linear")
