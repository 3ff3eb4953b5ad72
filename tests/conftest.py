"""Settings every test shares."""
from __future__ import annotations

import os

import pytest
import torch


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
