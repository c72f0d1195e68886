"""What an editor may do with an inline completion item that arrives while the user types.

An item carries `insertText` and the `range` it replaces. Against the document as it
is when the item arrives, it is right to show only when the range ends at the cursor
and the text the range covers is the start of `insertText`: the rest is what would
appear as ghost text, and it is shown however late it comes (a server that saw the
keys typed meanwhile moved it to the text as it is).

An item that does not fit the text now is one of two things:

* outdated: it fits a text the editor had since it asked (the request's, or a later
  one). It was right for the text the server had, and came late: typing went on while
  it was on its way, so it crossed a keystroke's `didChange` in the pipe, which no
  server can prevent. The editor knows that its document changed since it asked and
  does not show it (VS Code drops every inline completion whose request is older than
  the document, `canceled:documentChanged`; llama.vim one whose cursor has moved; the
  LSP leaves that call to the client). Neither shown nor stale; counted apart.
* stale: it fits none of them. It was made for text the editor never had since it
  asked (a wrong range, an answer for older text): showing it puts the wrong text at
  the cursor and accepting it corrupts the buffer. An error of the server, not of
  timing; counted, and never accepted.

A shown suggestion counts as accepted the way editors' telemetry counts it: the text
the user was about to type starts with it (whole), or with its first line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codefill.jobs.bench.replay.positions import offset_of, position_of


@dataclass(frozen=True)
class Item:
    insert_text: str
    start: tuple[int, int]  # (line, UTF-16 column)
    end: tuple[int, int]


@dataclass(frozen=True)
class Verdict:
    stale: bool
    text: str  # the suggestion proper: insertText less the text the range covers ("" when stale)


def judge(item: Item, document: str, cursor: int) -> Verdict:
    if item.end != position_of(document, cursor) or item.start > item.end:
        return Verdict(True, "")
    start = offset_of(document, *item.start)
    if position_of(document, start) != item.start:  # past a line's end: not a place in this text
        return Verdict(True, "")
    covered = document[start:cursor]
    if not item.insert_text.startswith(covered):
        return Verdict(True, "")
    return Verdict(False, item.insert_text[len(covered):])


def outdated_by(item: Item, earlier: Sequence[tuple[str, int]]) -> int | None:
    """For an item that does not fit the document now: how many versions behind it is the
    newest text it fits among `earlier`, the (document, cursor) the editor had since it
    asked, oldest first (1: the version just before now); None when it fits none (stale)."""
    for back, (document, cursor) in enumerate(reversed(earlier), 1):
        if not judge(item, document, cursor).stale:
            return back
    return None


def first_line(suggestion: str) -> str:
    """Up to the first line break after some code: an answer that starts on the next
    line ("\\n    return x") has that line as its first."""
    code = len(suggestion) - len(suggestion.lstrip())
    end = suggestion.find("\n", code)
    return suggestion if end < 0 else suggestion[:end]


def whole_match(suggestion: str, upcoming: str) -> bool:
    return bool(suggestion.strip()) and upcoming.startswith(suggestion)


def first_line_match(suggestion: str, upcoming: str) -> bool:
    line = first_line(suggestion)
    return bool(line.strip()) and upcoming.startswith(line)
