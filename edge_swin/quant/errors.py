"""Errors of the INT8 stage."""
from __future__ import annotations

from edge_swin.errors import EdgeSwinError


class QuantizationError(EdgeSwinError):
    """Quantization could not be done, or its result is not good enough; the message names the fix."""


class ScaleError(QuantizationError):
    """A quantizer whose scale Q/DQ, the INT8 node and the runtime's kernels cannot take; names the block and why."""

    def __init__(self, message: str, block: str | None = None):
        super().__init__(f"{block}: {message}" if block else message)
        self.block = block
        self.reason = message
