"""An answer is shown only against the text it still fits (codefill.lsp.freshness)."""

from __future__ import annotations

from codefill.lsp.freshness import rebase

ASKED = "def grow_all(circles: list[Circle], "
OLD = ASKED + "\n\nprint(1)\n"
CURSOR = len(ASKED)
ANSWER = "factor: float) -> list[Circle]:"


def _typed(text: str) -> str:
    return OLD[:CURSOR] + text + OLD[CURSOR:]


def test_an_unchanged_document_keeps_the_answer():
    rebased = rebase(ANSWER, OLD, CURSOR, OLD)
    assert (rebased.text, rebased.offset, rebased.typed) == (ANSWER, CURSOR, 0)


def test_typing_the_answers_start_leaves_the_rest_at_the_new_cursor():
    rebased = rebase(ANSWER, OLD, CURSOR, _typed("fact"))
    assert (rebased.text, rebased.offset, rebased.typed) == ("or: float) -> list[Circle]:", CURSOR + 4, 4)


def test_typing_something_else_drops_it():
    assert rebase(ANSWER, OLD, CURSOR, _typed("k: float")) is None


def test_typing_the_whole_answer_leaves_nothing_to_show():
    assert rebase(ANSWER, OLD, CURSOR, _typed(ANSWER)) is None


def test_deleting_or_editing_elsewhere_drops_it():
    assert rebase(ANSWER, OLD, CURSOR, OLD[:CURSOR - 2] + OLD[CURSOR:]) is None  # backspace twice
    assert rebase(ANSWER, OLD, CURSOR, "# note\n" + OLD) is None  # a line above: the cursor moved
    assert rebase(ANSWER, OLD, CURSOR, OLD + "x") is None  # the same length typed elsewhere


def test_a_newline_typed_after_the_request_drops_a_single_line_answer():
    # The grow_all case: Enter after the request, then the old answer must not appear on the new line.
    assert rebase(ANSWER, OLD, CURSOR, _typed("\n    ")) is None
