"""Small helpers shared by the format readers: unique channel names, numbers from header text."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["finite_float", "unique_name", "unique_names"]


def unique_name(name: str, taken: Collection[str]) -> str:
    """Return `name`, or the first of ``"name (2)"``, ``"name (3)"``, ... that is not in `taken`."""
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name} ({k})", k + 1
    return candidate


def unique_names(names: Iterable[str]) -> list[str]:
    """Make channel names unique in file order: a repeated ``"Height"`` becomes ``"Height (2)"``, ..."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        name = unique_name(name, taken)
        taken.add(name)
        out.append(name)
    return out


def finite_float(text: Any) -> float | None:
    """Return the finite number that `text` holds (surrounding blanks allowed), else None."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
