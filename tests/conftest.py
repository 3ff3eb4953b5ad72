"""Settings every test shares."""
from __future__ import annotations

import os

# Triton's interpreter for the whole test process, set before anything can import triton. The plugin's
# kernels run on CPU tensors (tests/plugins), and the interpreter also needs triton.language's own helpers
# (tl.zeros, ...) as interpreter objects; those are decorated when triton is first imported, by whichever
# test gets there first (CI's full run failed 75 kernel tests with "Cannot call @triton.jit'd outside of the
# scope of a kernel" when the variable was set only in tests/plugins/conftest.py). Tests that need compiled
# kernels (the AOT build, `gpu` tests) run them in a subprocess without it.
os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _torch_threads():
    """One intra-op thread (EDGE_SWIN_TEST_THREADS to change it), restored after each module.

    The tests run tiny models on a 2-core machine that other jobs may share;
    there OpenMP's second thread mostly spin-waits: tests/models measured 31 s
    on one thread and 116 s on two while another process kept both cores busy.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("EDGE_SWIN_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(previous)
