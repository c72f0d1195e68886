"""Progress bars for the long steps of building a dataset: tqdm on stderr, or nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], enabled: bool, desc: str, unit: str = "file", total: int | None = None) -> Iterable[T]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, file=sys.stderr, leave=False)
