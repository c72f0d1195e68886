"""Whole files held out for evaluation, chosen by a hash of their path and a seed.

Holding out whole files, not cuts of files, keeps evaluation honest: a middle
cut from a file the model trained on would be scored against text it has
read. The choice depends only on the paths and the seed (never on file order
or on the process), and files rank by their hash, so adding a file to the
repository moves few others across the line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_HOLDOUT_FRACTION = 0.1


@dataclass(frozen=True)
class Split:
    train: list[str]
    held_out: list[str]


def holdout_count(n_files: int, fraction: float) -> int:
    """round(fraction * n), at least 1 when there are two files or more, and never all of them."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    if n_files < 2 or fraction == 0:
        return 0
    return min(max(1, round(fraction * n_files)), n_files - 1)


def _rank(path: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\0{path}".encode("utf-8", "surrogatepass")).digest()


def split_files(paths: Iterable[str], *, fraction: float = DEFAULT_HOLDOUT_FRACTION, seed: int = 0) -> Split:
    """Train and held-out paths, each in the order given."""
    paths = list(paths)
    if len(set(paths)) != len(paths):
        raise ValueError("split_files needs unique paths")
    n = holdout_count(len(paths), fraction)
    held = set(sorted(paths, key=lambda p: _rank(p, seed))[:n])
    return Split(train=[p for p in paths if p not in held], held_out=[p for p in paths if p in held])
