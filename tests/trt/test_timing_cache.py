"""The engine stage's timing cache is read back only when it matches the digest written with it."""
from __future__ import annotations

from types import SimpleNamespace

from edge_swin.trt import builder
from edge_swin.utils.io import atomic_path


class FakeConfig:
    """Records what the builder hands TensorRT."""

    def create_timing_cache(self, data: bytes):
        self.data = data
        return data

    def set_timing_cache(self, cache, ignore_mismatch: bool) -> None:
        self.cache = cache


def test_a_damaged_timing_cache_is_left_out_not_fed_to_tensorrt(tmp_path):
    be = SimpleNamespace(timing_cache=True, is_rtx=False)
    path = tmp_path / "timing.cache"
    with atomic_path(path, digest=True) as tmp:
        tmp.write_bytes(b"timings of an earlier build")
    config = FakeConfig()
    assert "read 27 bytes" in builder._attach_timing_cache(be, config, path)
    assert config.data == b"timings of an earlier build"

    path.write_bytes(b"timings of an earlier bui1d")  # a flipped bit
    config = FakeConfig()
    note = builder._attach_timing_cache(be, config, path)
    assert config.data == b"" and "does not match its digest and is ignored" in note
