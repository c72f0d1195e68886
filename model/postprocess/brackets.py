"""Bracket counting, to tell a duplicated closing bracket from a needed one."""

from __future__ import annotations

PAIRS = {")": "(", "]": "[", "}": "{"}


def bracket_balance(text: str) -> dict[str, int]:
    """Openers minus closers, per closing bracket.

    Counted without parsing strings or comments: good enough to notice a
    bracket closed twice, and cheap enough for a whole file.
    """
    return {close: text.count(open_) - text.count(close) for close, open_ in PAIRS.items()}


def add_balance(total: dict[str, int], text: str) -> None:
    for close, n in bracket_balance(text).items():
        total[close] += n
