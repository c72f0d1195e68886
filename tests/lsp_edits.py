"""An independent model of LSP text edits, for checking the language server's documents.

Positions count UTF-16 code units, as in LSP; the model finds them by encoding the
line to UTF-16 and shares no code with `codefill.lsp.documents`, so a test that applies the
same edits here and there and compares the texts checks the store against the
protocol, not against itself.
Only "\\r\\n", "\\r" and "\\n" break lines (form feed and U+2028 do not, in LSP).
"""

from __future__ import annotations

import random
import re

from codefill.model.utf16 import utf16_len

_BREAK = re.compile(r"\r\n|\r|\n")


def lines_of(text: str) -> list[tuple[int, int]]:
    """(start, content end) of each LSP line, as string indices."""
    bounds = []
    start = 0
    for m in _BREAK.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return bounds


def line_count(text: str) -> int:
    return len(lines_of(text))


def index_of(text: str, line: int, character: int) -> int:
    """The string index of an LSP position: past a line's end clamps to the end of its
    content, past the last line to the end of the text, inside a surrogate pair to before
    the character."""
    bounds = lines_of(text)
    if line >= len(bounds):
        return len(text)
    start, end = bounds[line]
    units = text[start:end].encode("utf-16-le")
    offset = min(character, len(units) // 2)
    if offset < len(units) // 2 and 0xDC00 <= int.from_bytes(units[2 * offset:2 * offset + 2], "little") <= 0xDFFF:
        offset -= 1  # inside a surrogate pair: before the character
    return start + len(units[:2 * offset].decode("utf-16-le"))


def apply_edit(text: str, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
    s, e = index_of(text, *start), index_of(text, *end)
    s, e = min(s, e), max(s, e)
    return text[:s] + new + text[e:]


# Inserted text: line breaks of all three kinds, characters outside the BMP (two UTF-16
# units), code.
SNIPPETS = ["x", "\n", "\r\n", "\r", "    ", "😀", "é", "(", ")", ":", "{", "}", '"""', "#", "",
            "def g(a):\n    return a\n", "if x:\n\tpass\r\n", "ab\r\ncd", "ß😀\n"]
# And characters that str.splitlines (but not LSP) breaks lines on. Kept apart because the
# unit test that compares incremental with fresh syntax trees replays fixed seeds over
# SNIPPETS: other sequences reach error-recovery cases where tree-sitter's incremental
# parse differs from a fresh one even with exact edits (its quirk, not the store's).
MORE_SNIPPETS = [*SNIPPETS, "\x0c", "a\u2028b", "\x85", "🎉🎉\r\n", "tab\there"]


def random_position(rng: random.Random, text: str, *, past_end: float = 0.2) -> tuple[int, int]:
    """A position in `text`, at times past the end of its line or of the document."""
    bounds = lines_of(text)
    line = rng.randrange(len(bounds) + (1 if rng.random() < 0.05 else 0))
    if line >= len(bounds):
        return line, rng.randrange(5)
    start, end = bounds[line]
    length = utf16_len(text[start:end])
    if rng.random() < past_end:
        return line, length + rng.randrange(1, 6)
    return line, rng.randrange(length + 1)


def random_change(rng: random.Random, text: str) -> tuple[tuple[int, int], tuple[int, int], str]:
    """An insert, delete or replace somewhere in `text`: (start, end, new text). The end may
    come before the start (clients are not supposed to send that; the store swaps them)."""
    start = random_position(rng, text)
    roll = rng.random()
    if roll < 0.4:
        end = start  # insert
    else:
        end = random_position(rng, text) if rng.random() < 0.1 else (
            start[0] + rng.choice([0, 0, 1, 2]), rng.randrange(16))
    new = "" if 0.4 <= roll < 0.6 else rng.choice(MORE_SNIPPETS)  # a delete, else insert/replace
    return start, end, new
