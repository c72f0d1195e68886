"""Rule c, scope: a single-line request ends at the first newline after some content.

Whether a request is single-line is decided from the cursor's surroundings
unless the client says so: inside a line that continues on the right, the
user wants that line finished; on an empty line or after a block opener,
they want the block's body.
"""

from __future__ import annotations

import re

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
