"""The plugin's Triton kernels run in Triton's interpreter here (CPU tensors, no GPU).

TRITON_INTERPRET must be set before a kernel module is imported: `@triton.jit` reads it when it
decorates (triton 3.8: `knobs.runtime.interpret`, an environment variable read on access), not when
triton itself is imported. Measured: `import torch` does not import triton; `import modelopt.torch.
quantization` (tests/quant, tests/export) does, which is harmless for that reason. So only a kernel
module imported before this file runs would be a problem; the check below turns that into an error. The AOT build needs the real compiler: tests/plugins/test_aot_build.py runs it in a
subprocess without the variable.
"""
from __future__ import annotations

import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

_kernels = "edge_swin.plugins.kernels.window_attention"
if _kernels in sys.modules and type(sys.modules[_kernels].swin_window_attention_fp16).__name__ != "InterpretedFunction":
    # Imported (compiled mode) before this file ran: the kernel objects cannot run on CPU tensors.
    raise RuntimeError(f"{_kernels} was imported before tests/plugins/conftest.py set TRITON_INTERPRET=1; "
                       "import kernel modules only inside tests/plugins, or set TRITON_INTERPRET=1 for the run")
