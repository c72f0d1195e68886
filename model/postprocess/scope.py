"""Rule c, scope: how far a completion may reach.

- Single-line requests end at the first newline after some content.
- Multi-line requests end where the code leaves the definition (function,
  method, class) the cursor is in: at the first line indented less than its
  body (a dedent). Dedents inside it are fine: a completion may finish an
  `if` body and go on with the function's last lines, as multi-line middles
  do. In code outside any definition, the block at the cursor is the limit.
  A closing line there ("}", "end") still belongs to the block and is
  kept, and the completion ends after it; rule b drops it if the suffix has
  it already. Without this, models finish the body and go on writing the
  code after it (`print(add(5, 3))` after `return a + b`, the next method).

Whether a request is single-line is decided from the cursor's surroundings
unless the client says so: inside a line that continues on the right, the
user wants that line finished; on an empty line or after a block opener,
they want the block's body. At the end of a finished line the guess is
single-line, but a model that starts with a newline writes whole lines, so
the completion becomes multi-line (`continues_in_whole_lines`). Neither holds
where the code goes on right below the cursor in the same block: the user is
inserting a line between lines that are there (`code_goes_on`), so it is one
line. A completion that starts by closing the block ends after that closer.
"""

from __future__ import annotations

import re

from codefill.model.postprocess.closing_line import is_closing_line
from codefill.model.postprocess.context import CursorContext

# A line ending like this opens a block whose body goes on the next lines.
_BLOCK_OPENER = re.compile(r"(?:[:{(\[]|=>|->|\b(?:do|then|else|begin|repeat|try|finally))\s*$")
# Right of the cursor, only the closing half of what the cursor line opened.
_ONLY_CLOSERS = re.compile(r"[\s)\]}>;,:'\"`]*")


def decide_multiline(prefix: str, suffix: str) -> bool:
    left = prefix.rpartition("\n")[2]
    right = suffix.partition("\n")[0]
    if not _ONLY_CLOSERS.fullmatch(right):
        return False  # real text right of the cursor: finish this line only
    if code_goes_on(prefix, _next_code_line(suffix)):
        return False  # a line inserted into code that goes on after it
    if not left.strip():
        return True  # an empty line: write the next statement(s)
    return ends_with_block_opener(left)


def _next_code_line(suffix: str) -> str | None:
    """The suffix's first non-blank line after the cursor line (None: none near)."""
    lines = suffix.split("\n", 40)[1:40]
    return next((line for line in lines if line.strip()), None)


def code_goes_on(prefix: str, next_line: str | None) -> bool:
    """The line after the cursor's continues the block that holds the cursor.

    Then the user is inserting a line into code that is already there, and the
    code after the cursor is the rest of that block: what is missing is the
    line at the cursor, not the block's remaining lines, so the completion is
    one line. (Models go on writing their own version of the lines that follow,
    which the user has already.) At the end of a block (the next line leaves
    the definition, or an opener's body is still empty) or of the file, it is
    the block's remaining lines.
    """
    if next_line is None:
        return False
    head = prefix.rstrip()
    if not head:
        return False
    last = head.rpartition("\n")[2]
    if ends_with_block_opener(last):
        # Its body is what follows: code goes on only if the body is there already.
        return indent_width(next_line) > indent_width(statement_start(head))
    left = prefix.rpartition("\n")[2]
    # An indented empty cursor line (the editor's auto-indent) says which block it is in.
    width = indent_width(left) if left and not left.strip() else indent_width(last)
    floor = definition_floor(head, width)
    return indent_width(next_line) >= (width if floor is None else min(width, floor))


def ends_with_block_opener(line: str) -> bool:
    """The line opens a block whose body goes on the next lines (`if x:`, `{`)."""
    return _BLOCK_OPENER.search(line) is not None


def ends_single_line(multiline: bool, seen_content: bool) -> bool:
    """True when a newline now ends a single-line completion."""
    return not multiline and seen_content


# The cursor line ends in an operator or a separator: the statement goes on.
_UNFINISHED = re.compile(r"[-+*/%=&|^<>!~?.,\\@]$")


def continues_in_whole_lines(ctx: CursorContext) -> bool:
    """A single-line guess that the model's opening newline overrules.

    The cursor sits at the end of a finished line (code on its left, nothing on
    its right) and the model starts a new line: it writes the next lines, as on
    an empty line, so the completion is whole lines (multi-line) and not only
    the first of them. Only when the client left `multiline` to the server.
    """
    left = ctx.cursor_left
    if not ctx.multiline_auto or ctx.multiline or ctx.right_has_text or not left.strip():
        return False
    if code_goes_on(ctx.prefix, ctx.next_line):
        return False  # the new line goes between lines that are there: one line
    return left == left.rstrip() and _UNFINISHED.search(left) is None


def indent_width(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


# A line that starts a definition: the body of a function, method or class is
# the block a completion inside it may fill; leaving it is going too far.
_MODIFIERS = (r"(?:(?:export|default|pub(?:\([^)]*\))?|public|private|protected|internal|static|async|final"
              r"|abstract|override|virtual|inline|extern|unsafe|open|suspend|local|sealed|partial|data)\s+)*")
_DEFINITION_KEYWORD = re.compile(
    r"\s*" + _MODIFIERS
    + r"(?:def|class|function|func|fn|fun|sub|impl|trait|interface|struct|enum|module|namespace|object"
      r"|procedure|record|macro_rules!)\b"
)
_CONTROL = re.compile(
    r"\s*[}\])]*\s*(?:if|else|elif|elsif|for|foreach|while|do|switch|case|match|catch|except|try|finally|with"
    r"|loop|unless|until|synchronized|using|lock|return|when|select|defer|go|guard|repeat)\b"
)
# `int f(int a) {`, `run() {`, `f(x) -> T {`, `void g() const {`, `() => {`
_SIGNATURE = re.compile(r"(?:\)[^(){};=]*|=>\s*)\{\s*$")
_COMMENT = re.compile(r"\s*(?:#|//|/\*|\*|--)")


# A Python function: one defined inside another (a helper) is part of its body,
# which goes on after it, so the block is the outer function's.
_NESTABLE_FUNCTION = re.compile(r"\s*(?:async\s+)?def\b")


def is_definition_header(line: str) -> bool:
    """The line opens a function, method, class or the like (a guess from its words)."""
    if _CONTROL.match(line):
        return False
    return _DEFINITION_KEYWORD.match(line) is not None or _SIGNATURE.search(line) is not None


# How far back the prefix is searched for the definition the cursor is in.
_SCAN_LINES = 2000


def definition_floor(prefix: str, width: int) -> int | None:
    """The least indentation still inside the definition that holds a block at `width`.

    Walks the prefix back through the lines that open the blocks around the
    cursor (each indented less than the one before) to the nearest definition;
    its body is deeper than its header. A Python function nested in another
    one gives way to the outer one. None when no definition holds the cursor
    (top-level code): then nothing is known beyond the block itself.
    """
    level = width
    end = len(prefix)
    floor: int | None = None
    for _ in range(_SCAN_LINES):
        if level <= 0 or end < 0:
            return floor
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end]
        end = start - 1
        if not line.strip() or _COMMENT.match(line):
            continue
        w = indent_width(line)
        if w >= level:
            continue
        if is_closing_line(line):
            continue  # the end of a block before ours, not the start of one around it
        if _closes_more_than_it_opens(line):
            # The last line of a header on several lines (`    ) {`): judge the header by its first.
            first = _statement_start_at(prefix, start + len(line))
            line_end = prefix.find("\n", first)
            line = prefix[first:line_end if 0 <= line_end < start + len(line) else start + len(line)]
            end = first - 1
            w = indent_width(line)
            if w >= level:
                continue
        level = w
        if floor is not None:
            # Past a nested function: the enclosing function's body goes on after it.
            if not _NESTABLE_FUNCTION.match(line):
                return floor
            floor = w + 1
        elif is_definition_header(line):
            if not _NESTABLE_FUNCTION.match(line):
                return w + 1
            floor = w + 1
    return floor


_STATEMENT_LINES = 50  # the most lines one statement (its header) is looked for on


def _closes_more_than_it_opens(line: str) -> bool:
    return sum(line.count(c) for c in ")]") > sum(line.count(c) for c in "([")


def statement_start(prefix: str) -> str:
    """The line the prefix's last statement starts on: its last line, or the
    earlier line whose bracket its last lines close (a header on several lines)."""
    first = _statement_start_at(prefix, len(prefix))
    line_end = prefix.find("\n", first)
    return prefix[first:] if line_end < 0 else prefix[first:line_end]


def _statement_start_at(text: str, end: int) -> int:
    """Where the line starts on which the statement whose last line ends at `end` starts."""
    open_ = 0
    last_start = text.rfind("\n", 0, end) + 1
    for _ in range(_STATEMENT_LINES):
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        open_ += sum(line.count(c) for c in "([") - sum(line.count(c) for c in ")]")
        if open_ >= 0 or start == 0:
            return start
        end = start - 1
    return last_start


class BlockScope:
    """Where the block at the cursor ends, for multi-line completions.

    The block starts at the cursor line's indentation (deeper after a block
    opener) or, on an empty line, at the first line the model writes. The
    completion may still come back to the indentation of the enclosing blocks
    of the same definition (finish an `if` body, then the function's last
    lines), but not leave the definition (the function or method) that holds
    the cursor; in code outside any definition, not the block itself.
    """

    def __init__(self, ctx: CursorContext, active: bool) -> None:
        self.active = active
        self._prefix = ctx.prefix
        left = ctx.cursor_left
        self._min_width: int | None = None
        if left.strip():
            # The cursor line has code (a block opener): its body is deeper than
            # the line its statement starts on (`if (a &&\n    b) {` starts at `if`).
            deeper = ends_with_block_opener(left)
            start = statement_start(ctx.prefix) if deeper else left
            self._set_block(indent_width(start) + (1 if deeper else 0))

    def _set_block(self, width: int) -> None:
        floor = definition_floor(self._prefix, width)
        self._min_width = width if floor is None else min(width, floor)

    @property
    def floor(self) -> int | None:
        """The least indentation still inside the block (None: not known yet)."""
        return self._min_width

    def observe(self, full_line: str) -> None:
        """Let the first line with code set the block's indentation."""
        if self._min_width is None and full_line.strip():
            width = indent_width(full_line)
            if is_closing_line(full_line):
                # It ends the block the cursor was in: what follows at its own
                # indentation is the next statement after that block, new code
                # the user did not ask for (the next function after a "}").
                self._min_width = width + 1
            else:
                self._set_block(width)

    def outside(self, index: int, full_line: str) -> bool:
        """The line (with code) is indented less than the block."""
        if not self.active or index == 0 or self._min_width is None or not full_line.strip():
            return False
        return indent_width(full_line) < self._min_width

    def ends_block(self, index: int, full_line: str) -> tuple[bool, bool]:
        """(the completion ends at this line, the line itself is kept)."""
        if not self.outside(index, full_line):
            return False, True
        return True, is_closing_line(full_line)
