"""Is an arrived inline item right to show, and did the user type it next?"""

from __future__ import annotations

from codefill.jobs.bench.replay.judge import Item, first_line, first_line_match, judge, outdated_by, whole_match

DOC = "def f(x):\n    ret\n"
CURSOR = DOC.index("ret") + 3  # line 1, column 7


def test_a_range_from_the_line_start_to_the_cursor_is_shown_less_what_it_covers():
    v = judge(Item("    return x", (1, 0), (1, 7)), DOC, CURSOR)
    assert not v.stale and v.text == "urn x"


def test_an_empty_range_at_the_cursor_is_the_whole_text():
    assert judge(Item("urn x", (1, 7), (1, 7)), DOC, CURSOR).text == "urn x"


def test_a_range_that_does_not_end_at_the_cursor_is_stale():
    # made when the cursor was three characters back; the user typed "ret" since
    assert judge(Item("return x", (1, 4), (1, 4)), DOC, CURSOR).stale
    assert judge(Item("    return x", (1, 0), (1, 8)), DOC, CURSOR).stale
    assert judge(Item("x", (0, 0), (0, 3)), DOC, CURSOR).stale


def test_covered_text_that_is_not_the_start_of_insert_text_is_stale():
    # the user typed "ret" but the item was for "re" followed by something else
    assert judge(Item("    rex = 1", (1, 0), (1, 7)), DOC, CURSOR).stale
    assert judge(Item("  return x", (1, 0), (1, 7)), DOC, CURSOR).stale


def test_a_range_start_past_its_line_end_is_stale():
    assert judge(Item("x", (0, 40), (1, 7)), DOC, CURSOR).stale


def test_utf16_columns():
    doc = "s = '😀'\n"
    cursor = len(doc) - 1
    assert judge(Item("s = '😀' + t", (0, 0), (0, 8)), doc, cursor).text == " + t"  # 😀 is two UTF-16 units
    assert judge(Item("s = '😀' + t", (0, 0), (0, 7)), doc, cursor).stale


def test_acceptance_whole_and_first_line():
    upcoming = "urn x\n    y = 2\n"
    assert whole_match("urn x", upcoming) and whole_match("urn x\n    y", upcoming)
    assert not whole_match("urn y", upcoming) and not whole_match("   ", upcoming)
    assert first_line_match("urn x\n    z = 3", upcoming) and not whole_match("urn x\n    z = 3", upcoming)
    assert not first_line_match("urn z", upcoming)
    # an answer that starts on the next line has that line as its first
    assert first_line("\n    y = 2\n    z") == "\n    y = 2"
    assert first_line_match("\n    y = 2\n    q", "\n    y = 2\n")


def test_an_item_right_for_a_text_the_editor_had_since_it_asked_is_outdated_not_stale():
    # asked at "r"; the user typed "e", then "t" (DOC, now) while the answer was on its way
    asked = ("def f(x):\n    r\n", DOC.index("ret") + 1)
    then = ("def f(x):\n    re\n", DOC.index("ret") + 2)
    for_then = Item("    return x", (1, 0), (1, 6))  # the server had seen the "e": it crossed the "t"
    assert judge(for_then, DOC, CURSOR).stale
    assert outdated_by(for_then, [asked, then]) == 1
    assert outdated_by(Item("    return x", (1, 0), (1, 5)), [asked, then]) == 2  # for the text as asked
    # right for none of the texts the editor had since it asked: stale
    assert outdated_by(Item("    rx = 1", (1, 0), (1, 6)), [asked, then]) is None
    assert outdated_by(Item("return x", (1, 4), (1, 4)), [asked, then]) is None
    assert outdated_by(for_then, []) is None
