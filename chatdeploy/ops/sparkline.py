"""Terminal sparklines: a series of numbers as a row of block characters."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
Merge = Callable[[list[float]], float]


def resample(values: Sequence[float | None], width: int, merge: Merge = sum) -> list[float | None]:
    """At most `width` points, each merging a run of neighbours; a run with no data is None."""
    if width < 1:
        raise ValueError("width must be at least 1")
    size = max(1, math.ceil(len(values) / width))
    merged: list[float | None] = []
    for start in range(0, len(values), size):
        present = [v for v in values[start : start + size] if v is not None]
        merged.append(merge(present) if present else None)
    return merged


def sparkline(values: Sequence[float | None], width: int = 24, merge: Merge = sum) -> str:
    """Blocks scaled from zero to the largest value; a blank for no data; '' if none at all."""
    points = resample(values, width, merge)
    present = [v for v in points if v is not None]
    if not present:
        return ""
    low, high = min(0.0, *present), max(present)
    span = high - low
    top = len(BLOCKS) - 1
    return "".join(
        " " if v is None else BLOCKS[round((v - low) / span * top) if span else 0] for v in points
    )
