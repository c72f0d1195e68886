"""Rule c, scope: how far a completion may reach.

- Single-line requests end at the first newline after some content.
- Multi-line requests end where the code leaves the block the cursor is in:
  at the first line indented less than the block (a dedent). A closing line
  there ("}", "end") still belongs to the block and is kept, and the
  completion ends after it; rule b drops it if the suffix has it already.
  Without this, models finish the body and go on writing the code after
  the block (`print(add(5, 3))` after `return a + b`).

Whether a request is single-line is decided from the cursor's surroundings
unless the client says so: inside a line that continues on the right, the
user wants that line finished; on an empty line or after a block opener,
they want the block's body.
"""

from __future__ import annotations

import re

from model.postprocess.closing_line import is_closing_line
from model.postprocess.context import CursorContext

# A line ending like this opens a block whose body goes on the next lines.
_BLOCK_OPENER = re.compile(r"(?:[:{(\[]|=>|->|\b(?:do|then|else|begin|repeat|try|finally))\s*$")
# Right of the cursor, only the closing half of what the cursor line opened.
_ONLY_CLOSERS = re.compile(r"[\s)\]}>;,:'\"`]*")


def decide_multiline(prefix: str, suffix: str) -> bool:
    left = prefix.rpartition("\n")[2]
    right = suffix.partition("\n")[0]
    if not _ONLY_CLOSERS.fullmatch(right):
        return False  # real text right of the cursor: finish this line only
    if not left.strip():
        return True  # an empty line: write the next statement(s)
    return _BLOCK_OPENER.search(left) is not None


def ends_single_line(ctx: CursorContext, seen_content: bool) -> bool:
    """True when a newline now ends a single-line completion."""
    return not ctx.multiline and seen_content


def indent_width(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


class BlockScope:
    """Where the block at the cursor ends, for multi-line completions."""

    def __init__(self, ctx: CursorContext) -> None:
        self._active = ctx.multiline
        left = ctx.cursor_left
        if left.strip():
            # The cursor line has code (a block opener): its body is deeper.
            deeper = _BLOCK_OPENER.search(left) is not None
            self._min_width: int | None = indent_width(left) + (1 if deeper else 0)
        else:
            self._min_width = None  # set by the first line with code

    def observe(self, full_line: str) -> None:
        """Let the first line with code set the block's indentation."""
        if self._min_width is None and full_line.strip():
            self._min_width = indent_width(full_line)

    def outside(self, index: int, full_line: str) -> bool:
        """The line (with code) is indented less than the block."""
        if not self._active or index == 0 or self._min_width is None or not full_line.strip():
            return False
        return indent_width(full_line) < self._min_width

    def ends_block(self, index: int, full_line: str) -> tuple[bool, bool]:
        """(the completion ends at this line, the line itself is kept)."""
        if not self.outside(index, full_line):
            return False, True
        return True, is_closing_line(full_line)
