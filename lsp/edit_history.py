"""The user's recent edits as events, for next-edit prompts: what changed, where, in what order.

An event is one file's unified diff between its text before a run of edits and after it.
Keystrokes coalesce into the open event of their document while they come within
`coalesce_s` seconds of the last one and within `coalesce_lines` lines of the lines it touched,
and no other document was edited in between; anything else starts a new event. An open event's
"after" is its document's current text, so it is diffed only when asked for or closed.

An accepted suggestion is an event of its own (`record(..., separate=True)`): it closes the
user's open event, whatever the time since their last keystroke. Otherwise how long the model
took to answer would decide whether the next prompt shows "renamed the parameter" and "renamed
its first use" as two edits or one, and the next suggestion with it (on 2026-12-08 the embedded
model in bf16 renamed the parameter's second use after the two, and nothing after the one).

Events of all documents are ordered by their last edit, oldest first, and bounded (`max_events`,
`max_chars`; an event larger than `max_event_chars`, a big paste or a generated file, is dropped:
it would crowd out every other hint). A document's events go when it is closed, reopened or
replaced wholesale (an external reload: codefill.lsp.documents decides), since a diff against
text the user no longer has would mislead the model.

Privacy: the history lives in this process's memory only, is never logged, and leaves the
machine only inside a next-edit request to the configured server (`url`).
"""

from __future__ import annotations

import difflib
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


@dataclass(frozen=True)
class HistoryEvent:
    uri: str
    path: str  # what the prompt calls the file
    diff: str  # unified diff hunks, no file headers


@dataclass
class _Open:
    uri: str
    path: str
    before: str
    first_line: int
    last_line: int  # in the document's current lines
    last_time: float
    seq: int


@dataclass(frozen=True)
class _Closed:
    event: HistoryEvent
    seq: int


class EditHistory:
    def __init__(self, *, max_events: int = 16, max_chars: int = 6000, max_event_chars: int = 2000,
                 coalesce_lines: int = 8, coalesce_s: float = 3.0, context_lines: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_events, self.max_chars, self.max_event_chars = max_events, max_chars, max_event_chars
        self.coalesce_lines, self.coalesce_s, self.context_lines = coalesce_lines, coalesce_s, context_lines
        self._clock = clock
        self._open: dict[str, _Open] = {}
        self._closed: list[_Closed] = []  # oldest first
        self._seq = itertools.count(1)
        self._last_uri: str | None = None

    def record(self, uri: str, path: str, before: str, first_line: int, old_last_line: int,
               new_last_line: int, *, separate: bool = False) -> None:
        """An edit of `uri` whose text was `before`: lines first_line..old_last_line became
        first_line..new_last_line. `separate`: it starts an event of its own (an accepted suggestion)."""
        now = self._clock()
        seq = next(self._seq)
        event = self._open.get(uri)
        if event is not None and not separate and self._coalesces(event, uri, first_line, new_last_line, now):
            delta = new_last_line - old_last_line
            shifted = event.last_line + delta if event.last_line >= old_last_line else event.last_line
            event.first_line = min(event.first_line, first_line)
            event.last_line = max(shifted, new_last_line)
            event.last_time, event.seq = now, seq
        else:
            if event is not None:
                self._close(event, before)
            self._open[uri] = _Open(uri, path, before, first_line, new_last_line, now, seq)
        self._last_uri = uri

    def _coalesces(self, event: _Open, uri: str, first_line: int, last_line: int, now: float) -> bool:
        return (self._last_uri == uri and now - event.last_time <= self.coalesce_s
                and first_line <= event.last_line + self.coalesce_lines
                and last_line >= event.first_line - self.coalesce_lines)

    def _close(self, event: _Open, after: str) -> None:
        found = self._event(event, after)
        if found is not None:
            self._closed.append(_Closed(found, event.seq))
            # Bounded here too, not only when read: a long session must not grow without end.
            del self._closed[:-self.max_events]

    def _event(self, event: _Open, after: str) -> HistoryEvent | None:
        diff = unified_diff(event.before, after, self.context_lines)
        if not diff or len(diff) > self.max_event_chars:
            return None
        return HistoryEvent(event.uri, event.path, diff)

    def forget(self, uri: str) -> None:
        """Drop a document's events: closed, reopened, or reloaded from outside."""
        self._open.pop(uri, None)
        self._closed = [c for c in self._closed if c.event.uri != uri]
        if self._last_uri == uri:
            self._last_uri = None

    def events(self, current_text: Callable[[str], str | None]) -> list[HistoryEvent]:
        """The events, oldest first, within the budget (the newest kept); open events are diffed
        against `current_text(uri)`, their document's text now."""
        found = list(self._closed)
        for event in self._open.values():
            text = current_text(event.uri)
            made = self._event(event, text) if text is not None else None
            if made is not None:
                found.append(_Closed(made, event.seq))
        found.sort(key=lambda c: c.seq)
        kept: list[HistoryEvent] = []
        chars = 0
        for closed in reversed(found):
            size = len(closed.event.diff) + len(closed.event.path)
            if len(kept) >= self.max_events or chars + size > self.max_chars:
                break
            kept.append(closed.event)
            chars += size
        return kept[::-1]


def unified_diff(before: str, after: str, context: int = 2) -> str:
    """Hunks of a unified diff (no file headers) of two texts, with `context` lines around each
    change; "" when they are equal. Only the differing middle is compared (plus the context
    lines), so a keystroke in a long file costs what the change costs."""
    if before == after:
        return ""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    skip = max(0, head - context)
    a_mid = a[skip:len(a) - max(0, tail - context)]
    b_mid = b[skip:len(b) - max(0, tail - context)]
    out = []
    for line in difflib.unified_diff(a_mid, b_mid, n=context, lineterm=""):
        if not out and line.startswith(("---", "+++")):  # the file headers, before the first hunk
            continue
        match = _HUNK.match(line)
        if match:
            line = _shift_hunk(match, skip)
        out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out)


def _shift_hunk(match: re.Match, skip: int) -> str:
    """A hunk header of the compared middle, in the whole text's line numbers."""
    old, old_len, new, new_len = match.groups()
    return f"@@ -{int(old) + skip}{old_len or ''} +{int(new) + skip}{new_len or ''} @@"


__all__ = ["EditHistory", "HistoryEvent", "unified_diff"]
