"""Post-processing rules, whole and streamed: the golden cases document each rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from model.postprocess import PostprocessOptions, StreamingPostprocessor, decide_multiline, postprocess

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "postprocess"
CASES = sorted(GOLDEN.glob("*/*.yaml"))
RULES = ("repeat_suffix", "closing_line", "single_line", "block_scope", "trailing_whitespace")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def options_for(case: dict) -> PostprocessOptions:
    return PostprocessOptions(multiline=case.get("multiline"))


def stream(completion: str, prefix: str, suffix: str, options: PostprocessOptions, deltas: list[str]):
    """Feed deltas like the server does: stop feeding once told to stop."""
    post = StreamingPostprocessor(prefix, suffix, options)
    out, stopped_after = [], None
    for i, delta in enumerate(deltas):
        text, stop = post.feed(delta)
        out.append(text)
        if stop:
            stopped_after = i
            break
    out.append(post.finish())
    return "".join(out), stopped_after


@pytest.mark.parametrize("case_path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_case(case_path: Path):
    case = load(case_path)
    assert case["why"].strip()
    got = postprocess(case["completion"], case["prefix"], case["suffix"], options_for(case))
    assert got == case["expected"]


@pytest.mark.parametrize("case_path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_case_streamed_one_character_at_a_time(case_path: Path):
    case = load(case_path)
    text, _ = stream(case["completion"], case["prefix"], case["suffix"], options_for(case), list(case["completion"]))
    assert text == case["expected"]


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_has_cases_that_fire_and_cases_that_must_not(rule):
    cases = [load(p) for p in CASES if p.parent.name == rule]
    fired = [c for c in cases if c["expected"] != c["completion"]]
    must_not = [c for c in cases if c["why"].startswith("Must NOT")]
    assert len(fired) >= 4 and must_not


# --- single-line or multi-line ------------------------------------------------

@pytest.mark.parametrize(
    ("prefix", "suffix", "multiline"),
    [
        ("def add(a, b):\n    ", "\n\nprint(add(1, 2))", True),  # empty, indented line
        ("", "", True),  # empty file
        ("def double(x):", "\n", True),  # block opener ":"
        ("if (ok) {", "\n}", True),
        ("const f = () =>", "\n", True),
        ("items.each do", "\nend", True),
        ("if [ -n \"$x\" ]; then", "\nfi", True),
        ("call(", ")", True),  # an opener, with only its closer on the right
        ("    return ", "\n", False),  # mid-statement
        ("name = user.", "\nreturn name", False),
        ("total = price * ", " + shipping", False),  # code right of the cursor
        ("def f(", "a, b):", False),
        ("    ", "value = 1\n", False),  # empty left, but text right
        ("print(\"hello", "\")", False),
    ],
)
def test_decide_multiline(prefix, suffix, multiline):
    assert decide_multiline(prefix, suffix) is multiline


# --- switched off ---------------------------------------------------------------

def test_disabled_postprocessing_returns_the_completion_unchanged():
    off = PostprocessOptions(enabled=False)
    completion = "return a + b   \n\nprint(add(1, 2))\n"
    assert postprocess(completion, "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", off) == completion
    post = StreamingPostprocessor("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", off)
    assert post.feed("return a + b   \n") == ("return a + b   \n", False)
    assert post.feed("\nprint(add(1, 2))\n") == ("\nprint(add(1, 2))\n", False)
    assert post.finish() == ""


# --- streaming: prompt output and early stop ------------------------------------

def test_single_line_streams_at_once_and_stops_at_the_newline():
    post = StreamingPostprocessor("name = user.", "\nreturn name\n", PostprocessOptions())
    assert post.feed("get_") == ("get_", False)
    assert post.feed("name()") == ("name()", False)
    assert post.feed("\nprint(name)") == ("", True)
    assert post.finish() == ""


def test_streaming_stops_when_the_suffix_line_comes_again():
    post = StreamingPostprocessor("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", PostprocessOptions())
    assert post.feed("return a + b\n") == ("return a + b", False)
    # A line at column 0 has left the function body: final at its first characters.
    assert post.feed("\nprint(add(") == ("", True)
    assert post.finish() == ""


def test_a_held_line_that_turns_out_different_is_emitted():
    post = StreamingPostprocessor("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", PostprocessOptions())
    assert post.feed("print(") == ("", False)
    assert post.feed("a)") == ("print(a)", False)
    assert post.finish() == ""


def test_a_dedented_closing_line_ends_the_block_and_the_generation():
    post = StreamingPostprocessor("if (ok) {\n  ", "\n} else {\n  fail();\n}\n", PostprocessOptions())
    assert post.feed("succeed();\n}") == ("succeed();", False)
    assert post.feed("\n") == ("", True)
    assert post.finish() == ""  # the "}" is the suffix's


# The cursor on an empty line at column 0, right before "} else {".
AT_CLOSER = ("if (ok) {\n  a();\n", "\n} else {\n  b();\n}\n")


def test_a_possible_closing_line_is_held_until_the_end():
    post = StreamingPostprocessor(*AT_CLOSER, PostprocessOptions())
    assert post.feed("}") == ("", False)
    assert post.feed("\n") == ("", False)  # it would be dropped if nothing follows
    assert post.finish() == ""


def test_a_closing_line_followed_by_more_code_is_emitted():
    post = StreamingPostprocessor(*AT_CLOSER, PostprocessOptions())
    assert post.feed("}\n") == ("", False)
    assert post.feed("log();") == ("}\nlog();", False)


def test_only_the_possible_repeat_of_the_cursor_line_ending_is_held():
    post = StreamingPostprocessor("result = compute(", ")\nprint(result)\n", PostprocessOptions())
    assert post.feed("alpha, beta") == ("alpha, bet", False)
    assert post.feed(")") == ("a", False)  # "alpha, beta" is certain now; the ")" may be a repeat
    assert post.finish() == ""  # it was: the suffix has the ")"


def test_trailing_whitespace_is_held_until_code_follows():
    post = StreamingPostprocessor("def f():\n    ", "\n", PostprocessOptions())
    assert post.feed("a = 1  ") == ("a = 1", False)
    assert post.feed("\n\n") == ("", False)
    assert post.feed("    b = 2") == ("\n\n    b = 2", False)
    assert post.finish() == ""


def test_feeding_after_stop_changes_nothing():
    post = StreamingPostprocessor("x = ", "\n", PostprocessOptions())
    assert post.feed("1\n") == ("1", True)
    assert post.feed("more") == ("", True)
    assert post.finish() == ""


# --- the streaming invariant, over random completions and random deltas --------

SCENARIOS = [
    ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"),
    ("result = compute(", ")\nprint(result)\n"),
    ("if (ok) {\n  ", "\n} else {\n  fail();\n}\n"),
    ("function f(x) {\n  if (x) {\n    ", "\n}\n"),
    ("name = user.", "\nreturn name\n"),
    ("total = price * ", " + shipping;\n"),
    ("def greet(name)\n  ", "\nend\n"),
    ("int f() {\r\n    ", "\r\n}\r\n"),
    ("x =", "1\n"),
    ("", ""),
    ("print(len(", "))\n"),
    ("foo(\n    a,", ")\n"),
    ("class A {\n  run() {\n    ", "\n  }\n}\n"),
    ("    ", "value = 1\n"),
    ("if x:\n", "    pass\n"),
]
PIECES = [
    "\n", "\n", " ", "  ", "\t", "\r\n", "}", ")", "});", "end", "fi", "(", "{", ";", ",",
    "return a + b", "print(add(1, 2))", "} else {", "    ", "foo()", "a, b", "x", "print(result)",
    "return name", "+ shipping", "fail();", "1", "  }", "\n  }", "pass", "value = 1",
]


@st.composite
def completions(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(PIECES), st.text(alphabet="ab )}\n\t;", max_size=4)),
                          max_size=25))
    text = "".join(parts)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=10)))
    deltas = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return text, [d for d in deltas if d]


@settings(max_examples=1500, deadline=None)
@given(
    scenario=st.sampled_from(SCENARIOS),
    multiline=st.sampled_from([None, True, False]),
    completion=completions(),
)
def test_streaming_gives_exactly_the_whole_result(scenario, multiline, completion):
    prefix, suffix = scenario
    text, deltas = completion
    options = PostprocessOptions(multiline=multiline)
    expected = postprocess(text, prefix, suffix, options)

    streamed, stopped_after = stream(text, prefix, suffix, options, deltas)
    assert streamed == expected

    if stopped_after is not None:
        # Stop means final: nothing the model could still write changes the result.
        seen = "".join(deltas[: stopped_after + 1])
        assert postprocess(seen, prefix, suffix, options) == expected
        assert postprocess(seen + "\nzzz }\n", prefix, suffix, options) == expected

    # Fed without stopping (a server that ignores stop) it still agrees.
    post = StreamingPostprocessor(prefix, suffix, options)
    assert "".join(post.feed(d)[0] for d in deltas) + post.finish() == expected


def test_streaming_stops_at_the_first_character_of_a_dedented_line():
    from model.postprocess import PostprocessOptions, StreamingPostprocessor

    stream = StreamingPostprocessor("def add(a, b):\n    ", "\n\nprint(add(1, 2))", PostprocessOptions())
    emitted, stop = stream.feed("return a + b\n\n")
    assert not stop
    more, stop = stream.feed("p")
    assert stop, "a line at column 0 ends the function body as soon as it starts"
    assert emitted + more + stream.finish() == "return a + b"


def test_streaming_waits_on_a_line_that_may_become_a_closing_keyword():
    from model.postprocess import PostprocessOptions, StreamingPostprocessor

    stream = StreamingPostprocessor("if x then\n  ", "\n", PostprocessOptions(multiline=True))
    stream.feed("y = 1\n")
    _, stop = stream.feed("e")
    assert not stop, "`e` may still be `end`"
