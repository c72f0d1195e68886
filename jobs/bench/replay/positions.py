"""String offsets to LSP positions and back: lines break at \\n, \\r\\n and \\r, and
columns count UTF-16 code units, as LSP says unless both sides agree otherwise
(the replay offers only UTF-16, the encoding every server must speak)."""

from __future__ import annotations

import bisect
import re

from codefill.model.utf16 import utf16_len

_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _BREAK.finditer(text))]


def position_of(text: str, offset: int) -> tuple[int, int]:
    starts = line_starts(text)
    line = bisect.bisect_right(starts, offset) - 1
    return line, utf16_len(text[starts[line]:offset])


def offset_of(text: str, line: int, character: int) -> int:
    """A position past the end of a line clamps to the line's end; past the last line,
    to the end of the text (what LSP asks of servers, done the same here)."""
    starts = line_starts(text)
    if line >= len(starts):
        return len(text)
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    content = text[start:end].rstrip("\r\n")
    units = 0
    for i, ch in enumerate(content):
        if units >= character:
            return start + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return start + len(content)
