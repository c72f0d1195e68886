"""Rule d, whitespace: no trailing whitespace, leading indentation untouched.

Spaces before a newline are always trailing. At the very end of the
completion, whitespace is dropped when the completion ends a line (nothing
but whitespace right of the cursor) or was cut by a rule; when the model
stopped by itself before text that continues the cursor line, its final
whitespace sits inside that line ("x =" + " " + "1") and is kept.
"""

from __future__ import annotations

_HSPACE = " \t\f\v"


def strip_line_end(line: str) -> str:
    """Trailing spaces of one line; a CRLF line keeps its "\\r"."""
    if line.endswith("\r"):
        return line[:-1].rstrip(_HSPACE) + "\r"
    return line.rstrip(_HSPACE)


def join_lines(lines: list[str], *, strip_end: bool) -> str:
    if not lines:
        return ""
    text = "\n".join([strip_line_end(line) for line in lines[:-1]] + [lines[-1]])
    return text.rstrip() if strip_end else text
