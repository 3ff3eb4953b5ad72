"""User-facing errors: one message that says what is wrong and how to fix it."""


class EdgeSwinError(Exception):
    """A bad input or environment; the message names the fix. CLIs print it without a traceback."""


class CheckpointError(EdgeSwinError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


class DataError(EdgeSwinError):
    """A dataset folder is missing or malformed."""


class TargetError(EdgeSwinError):
    """An unknown or unusable deployment target."""


class PluginLibraryError(EdgeSwinError):
    """Our TensorRT plugin library is missing, does not build or load, or does not register its creator."""
