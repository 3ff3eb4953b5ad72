"""Progress bars that fit where the output goes.

On a terminal: tqdm's bar. Anywhere else (CI, `nohup`, a container log, a
pipe), a bar's carriage-return updates pile up as hundreds of lines an epoch,
so bars are off and what the log gets is the one line per epoch or stage that
the callers print anyway (`write`). `set_progress(False)` (the pipeline's
`--no-progress`) turns bars off on a terminal too.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

_enabled = True


def set_progress(enabled: bool) -> None:
    """Allow (True, the default: on a terminal only) or forbid progress bars for this process."""
    global _enabled
    _enabled = bool(enabled)


def progress_enabled(stream=None) -> bool:
    """Whether a bar drawn on `stream` (default stderr, tqdm's) would show: allowed and a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return _enabled and stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without isatty
        return False


def progress(iterable=None, **kwargs) -> tqdm:
    """tqdm(iterable, **kwargs), drawn only where `progress_enabled`; a hidden bar still takes update/set_postfix/close.

    An explicit disable=True in kwargs (a caller's own switch) keeps the bar off.
    """
    kwargs["disable"] = bool(kwargs.get("disable")) or not progress_enabled(kwargs.get("file"))
    return tqdm(iterable, **kwargs)


def write(message: str) -> None:
    """A whole line, printed so it does not break a bar on screen (tqdm.write); to stdout."""
    tqdm.write(message)
