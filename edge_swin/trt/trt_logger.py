"""A TensorRT logger that keeps what TensorRT says, for build logs and error messages."""
from __future__ import annotations

from edge_swin.trt.backend import load


def capture_logger(flavour: str | None = None, echo_from: int = 1):
    """A TensorRT logger that keeps every message (for build logs and error messages) and prints those at or above
    severity `echo_from` (0 internal error, 1 error, 2 warning, 3 info, 4 verbose)."""
    trt = load(flavour).trt

    class CaptureLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []

        def log(self, severity, msg):
            level = int(severity)
            self.messages.append((level, str(msg)))
            if level <= echo_from:
                print(f"[TensorRT] {msg}")

        def errors(self) -> list[str]:
            return [m for level, m in self.messages if level <= 1]

    return CaptureLogger()
