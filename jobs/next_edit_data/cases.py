"""Next-edit cases cut from one commit's change to one file: the edits so far, the window at the
cursor, and the window as it should be rewritten.

A change is split into its hunks (difflib on lines), taken top to bottom as the order the
programmer made them (the history keeps no finer order). After the first k hunks:

- the document is the old file with those k hunks applied;
- the edit events are those k hunks, one unified diff each (`codefill.lsp.edit_history.
  unified_diff`, the LSP's own), oldest first, within the LSP's history budget;
- the cursor is where the k-th hunk's new text ends (where a person's cursor is after typing it);
- the window is what `codefill lsp` sends for that cursor (`LINES_ABOVE` above, `LINES_BELOW`
  below), and the target is that window with every later hunk that lies inside it applied.

A later hunk that crosses the window's edge gives no case (no right answer in the window).
When no later hunk touches the window, the target is the window itself: a "no edit" case,
which is what the model must answer when nothing follows (after a commit's last hunk, most often).
Hunks over `MAX_HUNK_LINES` lines are new code being written, not an edit to predict: a file
with one is left out, as is a change of more than `MAX_HUNKS` hunks (a reformat).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from codefill.jobs.next_edit_data.git_history import FileChange
from codefill.lsp.edit_history import unified_diff
from codefill.lsp.next_edit import LINES_ABOVE, LINES_BELOW
from codefill.model.next_edit_edits import split_lines

MAX_HUNKS = 12
MAX_HUNK_LINES = 8
MAX_EVENTS = 16  # codefill.lsp.edit_history.EditHistory's defaults
MAX_EVENT_CHARS = 2000
MAX_EVENTS_CHARS = 6000
EDIT, NO_EDIT = "edit", "no_edit"


@dataclass(frozen=True)
class Hunk:
    a0: int  # old lines [a0, a1) become new lines
    a1: int
    new: tuple[str, ...]


@dataclass
class NextEditCase:
    commit: str
    path: str
    language: str
    step: int  # hunks applied before the cursor
    window: str
    start_line: int
    cursor_line: int  # in document lines
    cursor_character: int  # code points into the cursor's line (ASCII-safe; converted to UTF-16 when sent)
    target: str
    events: list[tuple[str, str]] = field(default_factory=list)  # (path, diff), oldest first
    prefix: str = ""  # the document before and after the cursor, for plain FIM at the same place
    suffix: str = ""

    @property
    def kind(self) -> str:
        return NO_EDIT if self.target == self.window else EDIT

    @property
    def key(self) -> str:
        return f"{self.commit[:12]}:{self.path}:{self.step}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> NextEditCase:
        row = dict(row)
        row["events"] = [tuple(e) for e in row.get("events", [])]
        return cls(**row)


def hunks(before: list[str], after: list[str]) -> list[Hunk]:
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [Hunk(a0, a1, tuple(after[b0:b1])) for op, a0, a1, b0, b1 in matcher.get_opcodes() if op != "equal"]


def _apply(lines: list[str], hs: list[Hunk], shift: int = 0) -> list[str]:
    """`lines` with the hunks (old-file line numbers + `shift`, top to bottom) applied."""
    out, at = [], 0
    for h in hs:
        out += lines[at:h.a0 + shift] + list(h.new)
        at = h.a1 + shift
    return out + lines[at:]


def cases_from_change(change: FileChange) -> list[NextEditCase]:
    before, after = split_lines(change.before), split_lines(change.after)
    hs = hunks(before, after)
    if not hs or len(hs) > MAX_HUNKS or any(max(h.a1 - h.a0, len(h.new)) > MAX_HUNK_LINES for h in hs):
        return []
    states = [before]
    for k in range(1, len(hs) + 1):
        states.append(_apply(before, hs[:k]))
    diffs = [unified_diff("".join(states[k]), "".join(states[k + 1])) for k in range(len(hs))]
    out = []
    for k in range(1, len(hs) + 1):
        case = _case(change, hs, k, states[k], diffs[:k])
        if case is not None:
            out.append(case)
    return out


def _case(change: FileChange, hs: list[Hunk], k: int, doc: list[str], diffs: list[str]) -> NextEditCase | None:
    shift = sum(len(h.new) - (h.a1 - h.a0) for h in hs[:k])
    last = hs[k - 1]
    end_line = last.a0 + sum(len(h.new) - (h.a1 - h.a0) for h in hs[:k - 1]) + len(last.new)
    if last.new:  # the cursor at the end of the last line typed
        cursor_line = end_line - 1
        cursor_character = len(doc[cursor_line].rstrip("\r\n"))
    else:  # a deletion: the cursor where the lines were
        cursor_line, cursor_character = min(end_line, max(len(doc) - 1, 0)), 0
    if not doc:
        return None
    first = max(0, cursor_line - LINES_ABOVE)
    last_line = min(len(doc) - 1, cursor_line + LINES_BELOW)
    w0, w1 = first, last_line + 1
    inside = []
    for h in hs[k:]:
        a0, a1 = h.a0 + shift, h.a1 + shift
        if a1 <= w0 and not (a0 == a1 == w0):
            continue
        if a0 >= w1:
            break
        if a0 < w0 or a1 > w1:
            return None  # crosses the window's edge
        inside.append(h)
    window_lines = doc[w0:w1]
    target_lines = _apply(window_lines, inside, shift - w0)
    events = _budgeted([(change.path, d) for d in diffs if d])
    offset = sum(len(s) for s in doc[:cursor_line]) + cursor_character
    text = "".join(doc)
    return NextEditCase(
        commit=change.commit, path=change.path, language=change.language, step=k, window="".join(window_lines),
        start_line=w0, cursor_line=cursor_line, cursor_character=cursor_character,
        target="".join(target_lines), events=events, prefix=text[:offset], suffix=text[offset:],
    )


def _budgeted(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The newest events that fit the LSP's history budget, oldest first (as EditHistory keeps them)."""
    kept, chars = [], 0
    for path, diff in reversed(events):
        if len(diff) > MAX_EVENT_CHARS:
            continue
        if len(kept) >= MAX_EVENTS or chars + len(diff) + len(path) > MAX_EVENTS_CHARS:
            break
        kept.append((path, diff))
        chars += len(diff) + len(path)
    return kept[::-1]


__all__ = ["EDIT", "NO_EDIT", "Hunk", "NextEditCase", "cases_from_change", "hunks"]
