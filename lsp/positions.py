"""Positions in a document's text: `LineIndex` and the conversions between the coordinate systems
that meet in `codefill.lsp.documents`.

Three coordinate systems meet here and must not be mixed up:
- LSP positions: (line, character) with characters counted in UTF-16 code units
  and lines broken by "\\r\\n", "\\r" or "\\n";
- Python string indices (code points), in which the text is kept;
- tree-sitter byte offsets into the UTF-8 encoding, with points whose rows count
  "\\n" only and whose columns are bytes.

Apart from the documents because these are pure functions of a text: no parser, no store, no locks.
"""

from __future__ import annotations

import bisect
import itertools
import re

from tree_sitter import Point

# Characters that str.splitlines breaks on but LSP does not; when a text holds
# one of them the (slower) exact regex is used. (`in` per character is much
# faster than one regex character class over a large text.)
_NON_LSP_BREAKS_ASCII = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_NON_LSP_BREAKS_OTHER = ("\x85", "\u2028", "\u2029")
_LSP_BREAK = re.compile(r"\r\n|\r|\n")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class LineIndex:
    """Where each LSP line starts, as string indices (and as UTF-8 byte offsets on demand)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        if _has_non_lsp_breaks(text, self.ascii):
            starts = [0, *(m.end() for m in _LSP_BREAK.finditer(text))]
        else:
            starts = [0, *itertools.accumulate(map(len, text.splitlines(keepends=True)))]
            # splitlines yields no empty line after a final break; LSP has one.
            if text and text[-1] not in "\r\n":
                starts.pop()
        self.starts = starts
        self._byte_starts: list[int] | None = starts if self.ascii else None

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_of(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1

    def line_start(self, line: int) -> int:
        return self.starts[line]

    def line_end(self, line: int) -> int:
        """Index just past the line's content, before its line break."""
        starts, text = self.starts, self.text
        if line + 1 >= len(starts):
            return len(text)
        end = starts[line + 1]
        if text.startswith("\r\n", end - 2):
            return end - 2
        return end - 1

    @property
    def byte_starts(self) -> list[int]:
        if self._byte_starts is None:
            text, starts = self.text, self.starts
            bounds = [*starts, len(text)]
            self._byte_starts = [0, *itertools.accumulate(
                len(text[bounds[i]:bounds[i + 1]].encode("utf-8")) for i in range(len(starts) - 1)
            )]
        return self._byte_starts

    def byte_offset(self, index: int) -> int:
        if self.ascii:
            return index
        line = self.line_of(index)
        start = self.starts[line]
        return self.byte_starts[line] + len(self.text[start:index].encode("utf-8"))

    def str_offset(self, byte: int, data: bytes) -> int:
        """The string index of a byte offset (rounded down to a character start)."""
        if self.ascii:
            return min(byte, len(self.text))
        byte_starts = self.byte_starts
        line = bisect.bisect_right(byte_starts, byte) - 1
        return self.starts[line] + len(data[byte_starts[line]:byte].decode("utf-8", "ignore"))


def _has_non_lsp_breaks(text: str, ascii_only: bool) -> bool:
    if any(c in text for c in _NON_LSP_BREAKS_ASCII):
        return True
    return not ascii_only and any(c in text for c in _NON_LSP_BREAKS_OTHER)

def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _ts_point(text: str, index: int) -> Point:
    """tree-sitter's point of a string index: rows count "\\n" only, columns are bytes."""
    row = text.count("\n", 0, index)
    line_start = text.rfind("\n", 0, index) + 1
    return Point(row, _utf8_len(text[line_start:index]))


def _point_after(start: Point, inserted: str) -> Point:
    newlines = inserted.count("\n")
    if newlines == 0:
        return Point(start.row, start.column + _utf8_len(inserted))
    return Point(start.row + newlines, _utf8_len(inserted[inserted.rfind("\n") + 1:]))


def _line_breaks(text: str) -> int:
    return len(_LSP_BREAK.findall(text)) if text else 0


def _common_affixes(old: str, new: str) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix.

    Binary search over slice comparisons: each comparison runs in C, so a
    200 KB file costs microseconds where a Python character loop costs
    milliseconds.
    """
    limit = min(len(old), len(new))
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    prefix = lo
    lo, hi = 0, limit - prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return prefix, lo
