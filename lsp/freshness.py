"""Answers for the document as it is, not as it was when the request left.

The model answers for the text at the time of the request; the user keeps typing
while it thinks. An answer is shown only against the current text:

* the document is unchanged: the answer stands;
* the only change is text typed at the request's cursor, and that text is the
  start of the answer: the rest of the answer stands, at the new cursor;
* anything else (typed something else, deleted, edited elsewhere in a way that
  moves the cursor, another line): the answer is dropped. Showing it would put
  text computed for other code at the cursor, which is how a late suggestion
  overwrote what the user had typed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rebased:
    text: str  # what is left of the answer to insert
    offset: int  # where, in the current text
    typed: int  # characters of the answer the user typed meanwhile


def rebase(answer: str, old_text: str, old_offset: int, new_text: str) -> Rebased | None:
    """The answer, moved to `new_text`; None when it no longer applies."""
    if new_text == old_text:
        return Rebased(answer, old_offset, 0)
    typed = len(new_text) - len(old_text)
    if typed <= 0:
        return None
    end = old_offset + typed
    if new_text[:old_offset] != old_text[:old_offset] or new_text[end:] != old_text[old_offset:]:
        return None
    inserted = new_text[old_offset:end]
    if not answer.startswith(inserted) or typed >= len(answer):
        return None
    return Rebased(answer[typed:], end, typed)
