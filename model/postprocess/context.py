"""What the rules need to know about the text around the cursor, computed once per request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from codefill.model.postprocess.brackets import bracket_balance


@dataclass(frozen=True)
class CursorContext:
    cursor_left: str  # the prefix's last line: the text left of the cursor
    right: str  # the suffix's first line: the text right of the cursor
    next_line: str | None  # the suffix's first non-blank line, as written (may be `right`)
    next_line_is_right: bool  # next_line is the rest of the cursor line, not a line of its own
    prefix_balance: dict[str, int]  # per bracket pair: openers minus closers in the prefix
    multiline: bool
    multiline_auto: bool = False  # `multiline` was decided from the text, not asked for by the client
    prefix: str = ""  # the whole prefix, for the rules that look further back than its last line
    suffix: str = ""  # the whole suffix, for the rules that look further on than its next line

    @property
    def right_stripped(self) -> str:
        return self.right.strip()

    @property
    def right_has_text(self) -> bool:
        return bool(self.right.strip())

    @property
    def cursor_line_ends_at_cursor(self) -> bool:
        """Nothing but whitespace right of the cursor: the completion ends a line."""
        return not self.right.strip()


def build_context(prefix: str, suffix: str, multiline: bool, *, multiline_auto: bool = False) -> CursorContext:
    cursor_left = prefix.rpartition("\n")[2]
    right = suffix.partition("\n")[0]
    next_line, is_right = None, False
    for index, line in enumerate(_lines(suffix)):
        if line.strip():
            next_line, is_right = line, index == 0
            break
    return CursorContext(
        cursor_left=cursor_left,
        right=right,
        next_line=next_line,
        next_line_is_right=is_right,
        prefix_balance=bracket_balance(prefix),
        multiline=multiline,
        multiline_auto=multiline_auto,
        prefix=prefix,
        suffix=suffix,
    )


def _lines(text: str) -> Iterator[str]:
    # Lazily: a suffix can be a whole file and only its first lines matter.
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1
