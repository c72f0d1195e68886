"""LSP's columns: UTF-16 code units, which a Python string index is not for characters outside
the Basic Multilingual Plane (an emoji is one character and two units)."""

from __future__ import annotations


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_index(line: str, character: int) -> int:
    """The string index of a UTF-16 column in a line (past its end clamps; inside a pair: before it)."""
    units = 0
    for i, ch in enumerate(line):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > character:
            return i
        units += width
    return len(line)
