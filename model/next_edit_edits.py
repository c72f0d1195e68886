"""A rewritten window as the few edits that turn the window into it.

The model rewrites the whole editable window; an editor wants to show and apply only what
changed. Lines the rewrite keeps are dropped (difflib on lines), and each changed run of lines
is narrowed to the characters that differ, so a renamed word is one small edit.

Positions are LSP's: (line, character) in document lines, characters in UTF-16 code units, the
window starting at column 0 of `start_line`; lines break at "\\r\\n", "\\r" or "\\n" as in LSP. The
server knows only the window, which is whole lines, so it can count UTF-16 units itself and an
LSP client applies the edits as they come.

Safety rules (never worse than doing nothing): a rewrite identical to the window is no edit,
and so is an empty or all-blank rewrite of a window that has text (a model that lost its way
deletes everything; a user never wants that as a suggestion), and so is a rewrite that is only
the window's first lines (the embedded 0.5B model, greedy, sometimes closes the region early).

One rule on top (`drop_whitespace_changes`; a request's `postprocess: false` switches it off):
a changed run of lines that only adds or removes blank lines, or only changes spacing inside
lines, is put back as the window has it, unless the recent edits made such a change themselves
(then it may be what they started: a blank-line or spacing clean-up). The embedded 0.5B model
and its adapters "tidy" a window they copy ({'a':1} -> {'a': 1}, a blank line lost) and so turn "no edit" into a
wrong suggestion; next edits that are whitespace alone are rare. Indentation is never touched: in
Python it is the edit. The ablation (benchmarks/next_edit_ablation.py) gives its wins, losses and
how many real targets it would spoil.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from codefill.model.utf16 import utf16_len, utf16_to_index

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class Position:
    line: int
    character: int  # UTF-16 code units


@dataclass(frozen=True)
class TextEdit:
    start: Position
    end: Position
    text: str


def split_lines(text: str) -> list[str]:
    """The lines of `text`, each with its line break (the last may have none)."""
    return _LINE.findall(text)


def align_final_break(window: str, rewrite: str) -> str:
    """The rewrite ending the way the window ends: prompts put the end marker on a line of its own,
    so a window without a final line break comes back with one (and a model may drop the last)."""
    window_break = _final_break(window)
    rewrite_break = _final_break(rewrite)
    if window_break == rewrite_break:
        return rewrite
    body = rewrite[:len(rewrite) - len(rewrite_break)]
    return body + window_break if body else body  # nothing stays nothing


def _final_break(text: str) -> str:
    for brk in ("\r\n", "\n", "\r"):
        if text.endswith(brk):
            return brk
    return ""


def drop_whitespace_changes(window: str, rewrite: str, event_diffs: Sequence[str] = ()) -> str:
    """The rewrite with each changed run of lines that is whitespace-only (module docstring) put
    back as the window has it; the rewrite as it is when a recent edit was whitespace-only."""
    if any(whitespace_only_diff(d) for d in event_diffs):
        return rewrite
    old, new = split_lines(window), split_lines(rewrite)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        # A whole run or nothing: putting back the blank lines of a run that also changes code
        # spoiled more real targets in the ablation and won no answer more.
        keep_old = tag == "equal" or _whitespace_only(old[i1:i2], new[j1:j2])
        out += old[i1:i2] if keep_old else new[j1:j2]
    return "".join(out)


def _same_but_spacing(x: str, y: str) -> bool:
    return _indent(x) == _indent(y) and _SPACE.sub("", x) == _SPACE.sub("", y)


def _whitespace_only(old: Sequence[str], new: Sequence[str]) -> bool:
    a = [line for line in old if line.strip()]
    b = [line for line in new if line.strip()]
    return len(a) == len(b) and all(_same_but_spacing(x, y) for x, y in zip(a, b))


_SPACE = re.compile(r"\s+")


def whitespace_only_diff(diff: str) -> bool:
    """A unified diff with a run of removed and added lines that differ only as
    `drop_whitespace_changes` puts back."""
    removed: list[str] = []
    added: list[str] = []
    header = "\n@@" in "\n" + diff  # ---/+++ lines before the first @@ are file names, not lines
    for line in [*split_lines(diff), " "]:  # a context line last ends the final run
        if header:
            header = not line.startswith("@@")
            continue
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            if (removed or added) and _whitespace_only(removed, added):
                return True
            removed, added = [], []
    return False


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def compute_edits(window: str, rewrite: str, start_line: int = 0) -> list[TextEdit]:
    """The edits that turn `window` (lines from `start_line` on) into `rewrite`, first to last;
    none for a no-op or for a rewrite that would leave nothing of a non-blank window."""
    if rewrite == window or (not rewrite.strip() and window.strip()) or _cut_short(window, rewrite):
        return []
    old, new = split_lines(window), split_lines(rewrite)
    starts = _line_starts(old)
    edits = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        # As many lines in as out: line by line, so a name renamed on two lines is two small edits.
        pairs = [(i1 + k, i1 + k + 1, j1 + k, j1 + k + 1) for k in range(i2 - i1)] if i2 - i1 == j2 - j1 \
            else [(i1, i2, j1, j2)]
        for a1, a2, b1, b2 in pairs:
            start, end, text = _narrow(window, starts[a1], starts[a2], "".join(new[b1:b2]))
            if start == end and not text:
                continue
            edits.append(TextEdit(_position(old, starts, start, start_line), _position(old, starts, end, start_line),
                                  text))
    return edits


def _cut_short(window: str, rewrite: str) -> bool:
    """The rewrite is the window's first lines and nothing else: a small model that stopped
    early, far likelier than a user about to delete the end of the window."""
    return window.startswith(rewrite) and (not rewrite or rewrite.endswith(("\n", "\r")))


def _narrow(window: str, start: int, end: int, text: str) -> tuple[int, int, str]:
    """window[start:end] -> text, without the characters both sides share at either end; a line
    break pair ("\\r\\n") is never split, LSP has no position inside one."""
    old = window[start:end]
    head = 0
    limit = min(len(old), len(text))
    while head < limit and old[head] == text[head]:
        head += 1
    # Whole words: "width" -> "w" reads as a rename, "idth" deleted does not.
    while head and _word(old[head - 1]) and (_word(old[head:head + 1]) or _word(text[head:head + 1])):
        head -= 1
    while head and _splits_pair(old, head):
        head -= 1
    tail = 0
    limit -= head
    while tail < limit and old[len(old) - 1 - tail] == text[len(text) - 1 - tail]:
        tail += 1
    while tail and _word(old[len(old) - tail]) and (_word(old[len(old) - tail - 1:len(old) - tail])
                                                     or _word(text[len(text) - tail - 1:len(text) - tail])):
        tail -= 1
    while tail and _splits_pair(old, len(old) - tail):
        tail -= 1
    return start + head, end - tail, text[head:len(text) - tail]


def _word(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


def _splits_pair(text: str, at: int) -> bool:
    return 0 < at < len(text) and text[at - 1] == "\r" and text[at] == "\n"


def _position(lines: Sequence[str], starts: Sequence[int], offset: int, start_line: int) -> Position:
    """The LSP position of a string index into the window."""
    i = max(0, min(len(lines) - 1, _line_of(starts, offset)))
    if not lines:
        return Position(start_line, 0)
    line = lines[i]
    column = offset - starts[i]
    content = line.rstrip("\r\n")
    if column > len(content):  # at the end of a final line break: the next line's start
        return Position(start_line + i + 1, 0)
    return Position(start_line + i, utf16_len(content[:column]))


def _line_starts(lines: Sequence[str]) -> list[int]:
    """Each line's string index in the text, and the text's length last."""
    return [0, *itertools.accumulate(map(len, lines))]


def _line_of(starts: Sequence[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset) - 1


def apply_edits(window: str, edits: Sequence[TextEdit], start_line: int = 0) -> str:
    """The window with the edits applied (non-overlapping, in order): what a client does."""
    lines = split_lines(window)
    starts = _line_starts(lines)

    def index(pos: Position) -> int:
        i = pos.line - start_line
        if i >= len(lines):
            return len(window)
        return starts[i] + utf16_to_index(lines[i].rstrip("\r\n"), pos.character)

    out, at = [], 0
    for edit in edits:
        start, end = index(edit.start), index(edit.end)
        out.append(window[at:start])
        out.append(edit.text)
        at = end
    out.append(window[at:])
    return "".join(out)


__all__ = ["Position", "TextEdit", "align_final_break", "apply_edits", "compute_edits", "drop_whitespace_changes",
           "split_lines", "whitespace_only_diff"]
