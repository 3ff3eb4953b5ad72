"""Export errors: each names the block (module path) and the reason."""
from edge_swin.errors import EdgeSwinError


class ExportError(EdgeSwinError):
    """The model cannot be exported as asked; the message names the block and what to change."""

    def __init__(self, message: str, block: str | None = None):
        super().__init__(f"{block}: {message}" if block else message)
        self.block = block
        self.reason = message
