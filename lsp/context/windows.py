"""The local window: prefix and suffix cut on whole lines, preferably where statements begin.

A window that starts in the middle of a statement (half a call's arguments,
the tail of a docstring) shows the model code it cannot parse, so when a
statement boundary lies close to where the budget says to cut, the window is
cut there instead. The enclosing function and class headers are put in front
of the window when they lie above it: they say what the code at the cursor is
part of.

The window's first line moves in steps of `SNAP_LINES`, not with every line typed:
while the user types, the prompt then keeps the same beginning from one keystroke to
the next, and the server's prefix cache re-reads only its end.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tree_sitter import Node

from codefill.lsp.context.grammar_nodes import LanguageSpec, spec_for
from codefill.lsp.documents import SyntaxDocument

# How far (in lines, and as a share of the window) the cut may move to reach a boundary;
# small windows may still move a few lines, or they would hardly ever reach one.
_MAX_SLACK_LINES = 24
_MIN_SLACK_LINES = 4
_SLACK_SHARE = 0.25
# The prefix window starts on a multiple of this many lines (rounded towards the cursor, so
# the budget holds): typing moves its start once in this many lines' worth of text. A
# small window snaps in smaller steps, so that it keeps most of its lines.
SNAP_LINES = 16
_SNAP_SHARE = 0.25
# A header is a signature: keep at most this many lines of it.
_MAX_HEADER_LINES = 8
# Headers may take at most this share of the prefix budget.
_MAX_HEADER_SHARE = 0.5


@dataclass(frozen=True)
class Windows:
    prefix: str  # headers + prefix window, up to the cursor
    suffix: str  # from the cursor
    line_prefix: str
    line_suffix: str
    start_line: int  # first line of the prefix window (after the headers)
    end_line: int  # last line of the suffix window
    headers: tuple[str, ...]  # the header texts put in front, outermost first
    start_offset: int  # string index where the prefix window (not the headers) starts
    end_offset: int  # string index where the suffix ends


def split_budget(prefix_chars: int, suffix_chars: int, before: int, after: int) -> tuple[int, int]:
    """A short suffix leaves its share to the prefix; a short prefix does not leave its share
    to the suffix: everything after the cursor is computed again at every keystroke (the
    server's prefix cache ends at the cursor), so a long suffix would cost each of them."""
    if after < suffix_chars:
        return prefix_chars + suffix_chars - after, after
    return min(prefix_chars, before), suffix_chars


def cut_windows(doc: SyntaxDocument, offset: int, prefix_chars: int, suffix_chars: int,
                snap_lines: int = SNAP_LINES) -> Windows:
    text = doc.text
    index = doc.index
    starts = index.starts
    line = index.line_of(offset)
    line_start, line_end = index.line_start(line), index.line_end(line)
    prefix_chars, suffix_chars = split_budget(prefix_chars, suffix_chars, offset, len(text) - offset)
    spec = spec_for(doc.language) if doc.tree is not None else None
    boundaries = _Boundaries(doc, spec)

    # --- prefix: the cursor line's left part always, whole lines above as the budget allows
    line_prefix = text[line_start:offset]
    head_cut = max(0, len(line_prefix) - prefix_chars)  # a giant line (minified code) is cut inside
    room = prefix_chars - (len(line_prefix) - head_cut)
    headers: list[tuple[int, int]] = []
    start_line = _first_line_within(starts, line, room) if head_cut == 0 else line
    if spec is not None and head_cut == 0:
        all_headers = enclosing_headers(doc, offset, spec)

        def cost(header: tuple[int, int]) -> int:
            return _lines_end(starts, text, header[1]) - starts[header[0]]

        # Headers that fall above the window cost budget, which moves the window
        # down, which may leave another header above it: settle in a few rounds.
        for _ in range(4):
            above = [h for h in all_headers if h[0] < start_line]
            while above and sum(map(cost, above)) > prefix_chars * _MAX_HEADER_SHARE:
                above.pop(0)  # the outermost goes first: the innermost says most about the cursor
            new_start = _first_line_within(starts, line, room - sum(map(cost, above)))
            if above == headers and new_start == start_line:
                break
            headers, start_line = above, new_start
    if head_cut == 0 and start_line > 0:
        start_line = snapped_start(start_line, line, snap_lines)
        start_line = boundaries.after(start_line, _slack(line - start_line), limit=line)
    # A header that reaches into the window is shown only down to the window's first line.
    header_texts = tuple(
        text[starts[first]:_lines_end(starts, text, min(last, start_line - 1))]
        for first, last in headers if first < start_line
    )
    start_offset = starts[start_line] if head_cut == 0 else line_start + head_cut
    prefix = "".join(header_texts) + text[start_offset:offset]

    # --- suffix: the cursor line's right part always, whole lines below as the budget allows
    line_suffix = text[offset:line_end]
    if len(line_suffix) > suffix_chars:
        end_offset = offset + suffix_chars
        end_line = line
    elif line + 1 >= len(starts):
        end_offset, end_line = len(text), line
    elif starts[line + 1] - offset > suffix_chars:
        end_offset, end_line = line_end, line  # the line fits, its line break does not
    else:
        budget_end = offset + suffix_chars
        if budget_end >= len(text):
            end_offset, end_line = len(text), len(starts) - 1
        else:
            # Lines line+1 .. end_line fit whole.
            end_line = max(line, bisect.bisect_right(starts, budget_end) - 2)
            end_line = boundaries.before(end_line, _slack(end_line - line), limit=line)
            end_offset = starts[end_line + 1] if end_line + 1 < len(starts) else len(text)
    return Windows(
        prefix=prefix,
        suffix=text[offset:end_offset],
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        start_line=start_line,
        end_line=end_line,
        headers=header_texts,
        start_offset=start_offset,
        end_offset=end_offset,
    )


def _first_line_within(starts: list[int], line: int, room: int) -> int:
    """The first line such that the lines from it up to (not including) `line` fit in `room` chars."""
    if room <= 0:
        return line
    return min(line, bisect.bisect_left(starts, starts[line] - room))


def snapped_start(start_line: int, line: int, snap_lines: int) -> int:
    """The prefix window's first line, moved down (towards the cursor's `line`) onto a multiple
    of the snap step, so that it stays put while the user types."""
    step = max(1, min(snap_lines, int((line - start_line) * _SNAP_SHARE)))
    return min(line, -(-start_line // step) * step)


def _slack(window_lines: int) -> int:
    return min(_MAX_SLACK_LINES, max(_MIN_SLACK_LINES, int(window_lines * _SLACK_SHARE)))


class _Boundaries:
    """Whether a line begins a statement (or member) rather than continuing one."""

    def __init__(self, doc: SyntaxDocument, spec: LanguageSpec | None) -> None:
        self.doc = doc
        self.spec = spec
        self.root = doc.tree.root_node if (doc.tree is not None and spec is not None) else None

    def starts_statement(self, line: int) -> bool:
        doc = self.doc
        content = doc.line_text(line)
        stripped = content.lstrip()
        if not stripped:
            return False
        if self.root is None or self.spec is None:
            # Without a tree: a line after a blank line, not indented, is most likely a fresh start.
            return line == 0 or (not doc.line_text(line - 1).strip() and content == stripped)
        offset = doc.index.line_start(line) + (len(content) - len(stripped))
        byte = doc.byte_offset(offset)
        node: Node | None = self.root.descendant_for_byte_range(byte, byte)
        if node is None or node.start_byte != byte:
            return False  # inside a token that began earlier (a multi-line string)
        parent = node.parent
        while parent is not None and parent.start_byte == byte:
            node, parent = parent, parent.parent
        return parent is None or parent.type in self.spec.blocks

    def after(self, line: int, slack: int, *, limit: int) -> int:
        """The first statement start in [line, line + slack] (never past `limit`), else `line`."""
        for candidate in range(line, min(line + slack, limit) + 1):
            if self.starts_statement(candidate):
                return candidate
        return line

    def before(self, line: int, slack: int, *, limit: int) -> int:
        """The last line in [line - slack, line] (never before `limit`) after which a statement starts."""
        last = self.doc.line_count - 1
        for candidate in range(line, max(line - slack, limit) - 1, -1):
            if candidate >= last or self.starts_statement(candidate + 1):
                return candidate
        return line


def enclosing_headers(doc: SyntaxDocument, offset: int, spec: LanguageSpec) -> list[tuple[int, int]]:
    """(first line, last line) of the header of each definition whose body holds the cursor, outermost first."""
    tree = doc.tree
    if tree is None:
        return []
    text = doc.text
    index = doc.index
    cursor_byte = doc.byte_offset(offset)
    probe = cursor_byte
    cursor_column: int | None = None
    if not spec.braces:
        # An indentation language ends a block at its last statement, so a cursor on
        # the blank line below still belongs to it: look from the last code before
        # the cursor, and keep the scopes that the cursor's indentation is inside.
        line = index.line_of(offset)
        line_prefix = text[index.line_start(line):offset]
        if not line_prefix.strip():
            code_end = len(text[:offset].rstrip())
            probe = doc.byte_offset(max(0, code_end - 1))
            cursor_column = len(line_prefix)
    node: Node | None = tree.root_node.descendant_for_byte_range(probe, probe)
    found: list[tuple[int, int]] = []
    while node is not None:
        if node.type in spec.scopes:
            header = _header(doc, node, cursor_byte, cursor_column, spec)
            if header is not None:
                found.append(header)
        node = node.parent
    found.reverse()
    return found


def _header(doc: SyntaxDocument, node: Node, cursor_byte: int, cursor_column: int | None,
            spec: LanguageSpec) -> tuple[int, int] | None:
    body = node.child_by_field_name("body")
    if body is None or (body.start_byte > cursor_byte and cursor_column is None):
        return None  # the cursor is in the signature, not the body
    if cursor_column is not None and cursor_column <= node.start_point.column:
        return None
    first = node.start_point.row
    if doc.data[body.start_byte:body.start_byte + 1] == b"{" or body.prev_sibling is None:
        last = body.start_point.row
    else:
        last = body.prev_sibling.end_point.row
    last = min(max(first, last), first + _MAX_HEADER_LINES - 1, doc.line_count - 1)
    return first, last


def _lines_end(starts: list[int], text: str, line: int) -> int:
    """The string index just past `line`'s line break."""
    if line + 1 < len(starts):
        return starts[line + 1]
    return len(text)
