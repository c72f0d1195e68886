"""Which next edit becomes the inline completion item, and where an accepted one is looked for
(codefill.lsp.next_edit_delivery)."""

from __future__ import annotations

from codefill.lsp.next_edit_delivery import accepted_places, inline_candidate


def edit(line: int, start: int, end: int, text: str = "x", end_line: int | None = None) -> dict:
    return {"range": {"start": {"line": line, "character": start},
                      "end": {"line": line if end_line is None else end_line, "character": end}}, "text": text}


def test_the_first_edit_at_or_after_the_cursor():
    before, after, later = edit(0, 0, 2), edit(3, 4, 8), edit(5, 0, 1)
    assert inline_candidate([later, before, after], 2, 0) is after


def test_an_edit_around_the_cursor_counts_as_at_it():
    around = edit(2, 4, 10)
    assert inline_candidate([edit(4, 0, 1), around], 2, 6) is around


def test_with_none_ahead_the_nearest_before():
    assert inline_candidate([edit(0, 0, 1), edit(1, 0, 3)], 9, 0) == edit(1, 0, 3)


def test_edits_over_lines_and_deletions_are_not_for_inline_completion():
    assert inline_candidate([edit(2, 0, 1, end_line=3), edit(4, 0, 2, text="")], 0, 0) is None
    assert inline_candidate([edit(2, 0, 1, end_line=3), edit(6, 0, 2)], 0, 0) == edit(6, 0, 2)


def _offset_at(text: str):
    from codefill.lsp.positions import LineIndex

    index = LineIndex(text)
    return lambda line, character: min(index.line_start(line) + character, index.line_end(line))


def test_an_edit_is_looked_for_where_the_whole_suggestion_puts_it():
    text = "def f(a):\n    return a + a\n"
    edits = [edit(1, 11, 12, "b"), edit(1, 15, 16, "bb"), edit(0, 6, 7, "bbb")]
    # applied: "def f(bbb):\n    return b + bb\n"; offsets in that text, then the rest of the line
    assert accepted_places(text, edits, _offset_at(text)) == [(23, " + bb"), (27, ""), (6, "):")]


def test_a_deletion_is_looked_for_as_the_text_that_follows_it():
    text = "x = 1  # old\n"
    assert accepted_places(text, [edit(0, 5, 12, "")], _offset_at(text)) == [(5, "")]
