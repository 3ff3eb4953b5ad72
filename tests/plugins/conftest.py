"""The plugin's Triton kernels run in Triton's interpreter here (CPU tensors, no GPU).

TRITON_INTERPRET must be set before triton is first imported: `@triton.jit` reads it when it decorates,
and triton.language's own helpers (tl.zeros, ...) are decorated at triton's import. tests/conftest.py
sets it for the whole test process; this file repeats it for a run of tests/plugins alone and turns an
early import into an error naming the cause. The AOT build needs the real compiler:
tests/plugins/test_aot_build.py runs it in a subprocess without the variable.
"""
from __future__ import annotations

import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

_kernels = "edge_swin.plugins.swin_window_attention.kernels.window_attention"
if "triton.language" in sys.modules and type(sys.modules["triton.language"].zeros).__name__ != "InterpretedFunction":
    raise RuntimeError("triton was imported before TRITON_INTERPRET=1 was set (tests/conftest.py sets it first): "
                       "run the tests with TRITON_INTERPRET=1 in the environment")
if _kernels in sys.modules and type(sys.modules[_kernels].swin_window_attention_fp16).__name__ != "InterpretedFunction":
    # Imported (compiled mode) before this file ran: the kernel objects cannot run on CPU tensors.
    raise RuntimeError(f"{_kernels} was imported before tests/plugins/conftest.py set TRITON_INTERPRET=1; "
                       "import kernel modules only inside tests/plugins, or set TRITON_INTERPRET=1 for the run")
