"""Errors of the INT8 stage."""
from __future__ import annotations

from edge_swin.errors import EdgeSwinError


class QuantizationError(EdgeSwinError):
    """Quantization could not be done, or its result is not good enough; the message names the fix."""
