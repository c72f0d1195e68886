"""Rule b, closing line: drop a trailing closing line the suffix already has.

Models like to finish a block they were asked to fill: the body, then "}".
When the suffix starts with that "}" the editor would show it twice. Only
a line at the same indentation counts (when the suffix's line is a line of
its own): a "}" indented deeper closes an inner block and is needed.
"""

from __future__ import annotations

import re

from codefill.model.postprocess.context import CursorContext

_CLOSING_LINE = re.compile(
    r"(?:[)\]}]|\b(?:end|endif|endfor|endwhile|endfunction|endmodule|endcase|endclass|endsub|fi|done|esac|wend)\b"
    r"|[\s;,.])+",
    re.IGNORECASE,
)
_HAS_CLOSER = re.compile(r"[)\]}A-Za-z]")


def is_closing_line(line: str) -> bool:
    """Only closing brackets or block-ending keywords (and separators) on the line."""
    text = line.strip()
    return bool(text) and _CLOSING_LINE.fullmatch(text) is not None and _HAS_CLOSER.search(text) is not None


_CLOSING_WORDS = ("end", "endif", "endfor", "endwhile", "endfunction", "endmodule", "endcase", "endclass",
                  "endsub", "fi", "done", "esac", "wend")
_LEADING_WORD = re.compile(r"[A-Za-z]+")


def could_become_closing_line(partial: str) -> bool:
    """An unfinished line that may still turn out to be a closing line.

    Lets streaming give up on a line at its first characters (`p` of `print`)
    instead of waiting for its newline, while `e` (of `end`) or `}` still wait.
    """
    text = partial.strip()
    i = 0
    while i < len(text):
        if text[i] in ")]};,. \t":
            i += 1
            continue
        word = _LEADING_WORD.match(text, i)
        if word is None:
            return False
        w = word.group().lower()
        if word.end() == len(text):  # still being written
            return any(k.startswith(w) for k in _CLOSING_WORDS)
        if w not in _CLOSING_WORDS:
            return False
        i = word.end()
    return True


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def suffix_supplies(full_line: str, ctx: CursorContext, *, own_line: bool = False) -> bool:
    """The closing line `full_line` is where the suffix already starts.

    `own_line`: text right of the cursor lands on a line of its own after the
    completion (it started a new line), so indentation tells its closers apart.
    """
    if ctx.next_line is None or not is_closing_line(full_line):
        return False
    closing, ahead = full_line.strip(), ctx.next_line.strip()
    if not ahead.startswith(closing):
        return False
    rest = ahead[len(closing):]
    if rest and (closing[-1].isalnum() and (rest[0].isalnum() or rest[0] == "_")):
        return False  # "end" is not the start of "endfor"
    if (own_line or not ctx.next_line_is_right) and indentation(full_line) != indentation(ctx.next_line):
        return False
    return True


def drop_trailing_closing_line(lines: list[str], ctx: CursorContext, *, own_line: bool = False) -> bool:
    """Remove the last non-blank line (and what follows) if the suffix supplies it."""
    last = last_nonblank(lines)
    if last is None:
        return False
    full = ctx.cursor_left + lines[last] if last == 0 else lines[last]
    if not suffix_supplies(full, ctx, own_line=own_line):
        return False
    del lines[last:]
    return True


def last_nonblank(lines: list[str], before: int | None = None) -> int | None:
    for i in range(len(lines) - 1 if before is None else before - 1, -1, -1):
        if lines[i].strip():
            return i
    return None
