"""argparse types for numbers with an accepted range, shared by every command line.

A bad number is refused while the arguments are parsed, before any stage
writes: argparse prints one line that names the flag and the range
("argument --epochs: -1 is out of range: give an integer >= 0") and exits
with status 2. NaN and infinities are never accepted. Each type carries a
metavar ("INT>=0", "X>0", "0<=X<1"), so `--help` shows the range beside the
flag (no brackets in it: argparse splits a long usage line on them).
"""
from __future__ import annotations

import argparse
import math


class Bounded:
    """An argparse `type=`: text -> int or float, finite and inside [low, high] (either end open or absent)."""

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False):
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        self.__name__ = "integer" if kind is int else "number"  # argparse's word for the type in its own messages

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.describe()}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number: give {self.describe()}")
        if not self.contains(value):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {self.describe()}")
        return value

    def contains(self, value) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        """The accepted values in words: "an integer >= 1", "a number in [0, 1)"."""
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {_num(self.high)}"
        return noun

    @property
    def metavar(self) -> str:
        """The range as --help shows it beside the flag: INT>=0, X>0, 0<=X<1."""
        word = "INT" if self.kind is int else "X"
        if self.low is not None and self.high is not None:
            return (f"{_num(self.low)}{'<' if self.low_open else '<='}{word}"
                    f"{'<' if self.high_open else '<='}{_num(self.high)}")
        if self.low is not None:
            return f"{word}{'>' if self.low_open else '>='}{_num(self.low)}"
        if self.high is not None:
            return f"{word}{'<' if self.high_open else '<='}{_num(self.high)}"
        return word


class BoundedList:
    """An argparse `type=`: "1,8,64" -> [1, 8, 64], each item checked by `item` (a Bounded)."""

    def __init__(self, item: Bounded):
        self.item = item
        self.__name__ = "list"
        self.metavar = f"{item.metavar},..."

    def __call__(self, text: str) -> list:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {self.describe()}")
        try:
            return [self.item(part) for part in parts]
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentTypeError(f"{text}: {err}") from None

    def describe(self) -> str:
        return self.item.describe().replace("an integer", "integers").replace("a number", "numbers")


def _num(value: float) -> str:
    return f"{value:g}"


COUNT = Bounded(int, 0)  # epochs, steps, workers: 0 is "none" or "off"
POSITIVE_INT = Bounded(int, 1)  # sizes, batch, threads
SEED = Bounded(int, 0, 2 ** 32 - 1)  # numpy's generators take seeds in [0, 2**32)
NON_NEGATIVE = Bounded(float, 0.0)  # limits, alphas, decay, warm-up epochs
POSITIVE = Bounded(float, 0.0, low_open=True)  # learning rates, seconds
FRACTION = Bounded(float, 0.0, 1.0, high_open=True)  # probabilities that must leave something: drop path, smoothing


def add_number(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *flags: str, type: Bounded | BoundedList,
               **kwargs):
    """parser.add_argument with a Bounded type and its range as the metavar (so --help shows it)."""
    kwargs.setdefault("metavar", type.metavar)
    return parser.add_argument(*flags, type=type, **kwargs)
