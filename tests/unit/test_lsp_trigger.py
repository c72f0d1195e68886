"""The trigger policy: when the code right of the cursor stops automatic requests, and
which scope (single/multi-line) is asked for."""

from __future__ import annotations

import pytest

from codefill.lsp.trigger import code_right_of_cursor, decide, multiline_for


@pytest.mark.parametrize("line_suffix, count", [
    ("", 0),
    (")", 0),
    ("  ", 0),
    ("\")]}`;,'", 0),
    ("):", 1),
    (") -> int:", 6),
    ("x", 1),
    ("hello)", 5),
])
def test_code_characters_right_of_cursor(line_suffix, count):
    assert code_right_of_cursor(line_suffix) == count


@pytest.mark.parametrize("line_suffix, allowed", [
    ("", True),           # end of line
    (")", True),          # print(|)
    ('")', True),         # print("|")
    ("):", True),         # def f(|):  one code character
    ("])", True),
    ("x)", True),         # one code character
    ("ab)", True),        # two: at the limit
    ("abc)", False),      # three code characters: completing would fight them
    ("foo(bar)", False),
    (" + 1", True),       # "+" and "1": two, at the limit
    (" + 12", False),
])
def test_automatic_requests_refused_with_code_right_of_cursor(line_suffix, allowed):
    assert decide(line_suffix, invoked=False, max_right_chars=2).allowed is allowed


def test_invoked_requests_skip_the_right_of_cursor_rule():
    assert decide("foo(bar, baz)", invoked=True, max_right_chars=2).allowed
    refused = decide("foo(bar, baz)", invoked=False, max_right_chars=2)
    assert not refused.allowed and "right of the cursor" in refused.reason


def test_limit_is_configurable():
    assert not decide("ab", invoked=False, max_right_chars=0).allowed
    assert decide("abc", invoked=False, max_right_chars=3).allowed


def test_scope_from_the_syntax_hint():
    assert multiline_for(True, server_decides=True) is True  # empty block body
    assert multiline_for(False, server_decides=True) is False
    assert multiline_for(None, server_decides=True) is None  # codefill serve decides
    assert multiline_for(None, server_decides=False) is False  # raw template: one line is safe
    assert multiline_for(True, server_decides=False) is True
