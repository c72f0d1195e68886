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


def typed_since(old_text: str, old_offset: int, new_text: str) -> str | None:
    """What was typed at `old_offset` to make `new_text` from `old_text` ("" when they are
    the same); None when the change is anything else."""
    if new_text == old_text:
        return ""
    typed = len(new_text) - len(old_text)
    if typed <= 0:
        return None
    end = old_offset + typed
    if new_text[:old_offset] != old_text[:old_offset] or new_text[end:] != old_text[old_offset:]:
        return None
    return new_text[old_offset:end]


def agrees(answer_so_far: str, typed: str) -> bool:
    """Whether an answer that has begun with `answer_so_far` may still start with `typed`."""
    if len(answer_so_far) >= len(typed):
        return answer_so_far.startswith(typed)
    return typed.startswith(answer_so_far)


def rebase(answer: str, old_text: str, old_offset: int, new_text: str) -> Rebased | None:
    """The answer, moved to `new_text`; None when it no longer applies."""
    inserted = typed_since(old_text, old_offset, new_text)
    if inserted is None:
        return None
    if not inserted:
        return Rebased(answer, old_offset, 0)
    if not answer.startswith(inserted) or len(inserted) >= len(answer):
        return None
    return Rebased(answer[len(inserted):], old_offset + len(inserted), len(inserted))
