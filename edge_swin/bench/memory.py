"""Peak memory of a backend while it runs: CUDA allocator peak on a GPU, sampled RSS growth on a CPU.

On a CPU, native allocations (ONNX Runtime arenas, oneDNN buffers, libtorch) are invisible to tracemalloc, so
we sample the process's resident set size from /proc in a background thread and report the peak over the
RSS measured just before the backend was set up. Process-wide: run backends one after another, never together.
"""
from __future__ import annotations

import os
import threading


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_freed() -> None:
    """gc, then glibc's malloc_trim: hand freed heap back to the OS so the next RSS baseline is not inflated
    by what an earlier backend freed (which would otherwise be returned mid-measurement: negative growth)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """with PeakRSS() as m: ...  ->  m.peak_delta_bytes (None where /proc is not there).

    base: the RSS to measure growth from (default: the RSS on entry)."""

    def __init__(self, interval_s: float = 0.005, base: int | None = None):
        self.interval_s = interval_s
        self.fixed_base = base  # measure growth over this RSS (e.g. taken before the backend was set up)
        self.base = None
        self.peak = None
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        while not self._stop.is_set():
            value = rss_bytes()
            if value is not None and (self.peak is None or value > self.peak):
                self.peak = value
            self._stop.wait(self.interval_s)

    def __enter__(self):
        now = rss_bytes()
        self.base = self.fixed_base if self.fixed_base is not None else now
        self.peak = now
        if self.base is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        value = rss_bytes()
        if value is not None and self.peak is not None:
            self.peak = max(self.peak, value)
        return False

    @property
    def peak_delta_bytes(self) -> int | None:
        if self.base is None or self.peak is None:
            return None
        return self.peak - self.base


class CudaPeak:
    """torch.cuda.max_memory_allocated over the block (reset on entry)."""

    def __enter__(self):
        import torch
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.base = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc):
        import torch
        torch.cuda.synchronize()
        self.peak = torch.cuda.max_memory_allocated()
        return False

    @property
    def peak_delta_bytes(self) -> int:
        return self.peak - self.base
