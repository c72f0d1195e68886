"""Post-processing rules, whole and streamed: the golden cases document each rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from codefill.model.postprocess import RULES, PostprocessOptions, StreamingPostprocessor, decide_multiline, postprocess

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "postprocess"
CASES = sorted(GOLDEN.glob("*/*.yaml"))
# The golden folders, by the rule switch (codefill.model.postprocess.RULES) that governs them;
# new_line: completions that start with a newline (the santacoder layout), rules a and b.
FOLDERS = {
    "repeat_suffix": ("repeat_suffix", "new_line"),
    "closing_line": ("closing_line",),
    "scope": ("single_line", "block_scope", "inserted_line"),
    "syntax": ("syntax",),
    "repeat_ending": ("repeat_ending",),
    "whitespace": ("trailing_whitespace",),
}
GOLDEN_FOLDERS = tuple(folder for folders in FOLDERS.values() for folder in folders)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def options_for(case: dict) -> PostprocessOptions:
    return PostprocessOptions(multiline=case.get("multiline"), language=case.get("language"),
                              disabled_rules=frozenset(case.get("disabled_rules", ())))


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


@pytest.mark.parametrize("folder", GOLDEN_FOLDERS)
def test_each_rule_has_cases_that_fire_and_cases_that_must_not(folder):
    cases = [load(p) for p in CASES if p.parent.name == folder]
    fired = [c for c in cases if c["expected"] != c["completion"]]
    must_not = [c for c in cases if c["why"].startswith("Must NOT")]
    assert len(fired) >= 4 and must_not


def test_every_rule_switch_has_golden_cases_and_every_folder_a_switch():
    assert set(FOLDERS) == set(RULES)
    assert {p.parent.name for p in CASES} == set(GOLDEN_FOLDERS)


@pytest.mark.parametrize("rule", RULES)
def test_switching_a_rule_off_undoes_its_golden_cases(rule):
    """Each rule's switch is real: with it off, some of its cases keep more text."""
    changed = 0
    for path in CASES:
        if path.parent.name not in FOLDERS[rule]:
            continue
        case = load(path)
        options = options_for(case)
        off = PostprocessOptions(multiline=options.multiline, language=options.language,
                                 disabled_rules=options.disabled_rules | {rule})
        with_rule = postprocess(case["completion"], case["prefix"], case["suffix"], options)
        without = postprocess(case["completion"], case["prefix"], case["suffix"], off)
        assert without == "".join(_streamed(case["completion"], case["prefix"], case["suffix"], off))
        changed += without != with_rule
    assert changed >= 2


@pytest.mark.parametrize("case_path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_rule_off_gives_the_completion_as_it_came(case_path: Path):
    case = load(case_path)
    off = PostprocessOptions(multiline=case.get("multiline"), language="python", disabled_rules=frozenset(RULES))
    assert postprocess(case["completion"], case["prefix"], case["suffix"], off) == case["completion"]


def _streamed(completion: str, prefix: str, suffix: str, options: PostprocessOptions) -> list[str]:
    post = StreamingPostprocessor(prefix, suffix, options)
    out = []
    for ch in completion:
        text, stop = post.feed(ch)
        out.append(text)
        if stop:
            break
    return [*out, post.finish()]


def test_an_unknown_rule_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown post-processing rule.*frobnicate.*known rules: repeat_suffix"):
        PostprocessOptions(disabled_rules=frozenset({"frobnicate"}))


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


def test_a_completion_that_starts_by_closing_the_block_ends_there():
    # The code after that "}" would be new code after the block, and here the
    # suffix has the "}" (with its else branch), so nothing is left.
    post = StreamingPostprocessor(*AT_CLOSER, PostprocessOptions())
    assert post.feed("}\n") == ("", False)
    assert post.feed("log();") == ("", True)
    assert post.finish() == ""


def test_a_closing_line_followed_by_more_code_is_emitted():
    post = StreamingPostprocessor("function f() {\n  if (ok) {\n    a();\n", "\n  return 1;\n}\n",
                                  PostprocessOptions(multiline=True))
    assert post.feed("    b();\n  }\n") == ("    b();\n  }", False)
    assert post.feed("  log();") == ("\n  log();", False)


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
    # the santacoder layout: no newline between the prefix and the completion, nor the completion and the suffix
    ("int f() {\n    for (;;) {\n        a();\n    }", "}\n"),
    ("def f(x):\n    if x:\n        return False", "    return True\n"),
    ("def f(l):\n    for x in l:\n        if x:\n", "\n"),
    ("class A {\n    void f() {\n        ", "\n    }\n}\n"),
    ("def f()\n  x = 1", "\n"),
]
PIECES = [
    "\n", "\n", " ", "  ", "\t", "\r\n", "}", ")", "});", "end", "fi", "(", "{", ";", ",",
    "return a + b", "print(add(1, 2))", "} else {", "    ", "foo()", "a, b", "x", "print(result)",
    "return name", "+ shipping", "fail();", "1", "  }", "\n  }", "pass", "value = 1",
    "\n    }", "\n        return True", "if x:", "for y in l:", "    return x", "\n    return True\n",
]


@st.composite
def completions(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(PIECES), st.text(alphabet="ab )}\n\t;", max_size=4)),
                          max_size=25))
    text = "".join(parts)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=10)))
    deltas = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return text, [d for d in deltas if d]


@settings(max_examples=2500, deadline=None)
@given(
    scenario=st.sampled_from(SCENARIOS),
    multiline=st.sampled_from([None, True, False]),
    completion=completions(),
    language=st.sampled_from([None, None, "python", "javascript", "java", "ruby"]),
    disabled=st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(RULES))),
)
def test_streaming_gives_exactly_the_whole_result(scenario, multiline, completion, language, disabled):
    prefix, suffix = scenario
    text, deltas = completion
    options = PostprocessOptions(multiline=multiline, language=language, disabled_rules=disabled)
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
    from codefill.model.postprocess import PostprocessOptions, StreamingPostprocessor

    stream = StreamingPostprocessor("def add(a, b):\n    ", "\n\nprint(add(1, 2))", PostprocessOptions())
    emitted, stop = stream.feed("return a + b\n\n")
    assert not stop
    more, stop = stream.feed("p")
    assert stop, "a line at column 0 ends the function body as soon as it starts"
    assert emitted + more + stream.finish() == "return a + b"


def test_streaming_waits_on_a_line_that_may_become_a_closing_keyword():
    from codefill.model.postprocess import PostprocessOptions, StreamingPostprocessor

    stream = StreamingPostprocessor("if x then\n  ", "\n", PostprocessOptions(multiline=True))
    stream.feed("y = 1\n")
    _, stop = stream.feed("e")
    assert not stop, "`e` may still be `end`"


# --- the syntax rule's parse ------------------------------------------------------

@pytest.mark.parametrize(
    ("language", "path", "grammar"),
    [("python", None, "python"), ("typescriptreact", None, "tsx"), ("Java", None, "java"), (None, "a/b.rs", "rust"),
     (None, "x.unknown", None), ("klingon", None, None), ("klingon", "main.go", "go"), (None, None, None)],
)
def test_the_grammar_comes_from_the_language_or_the_path(language, path, grammar):
    from codefill.model.postprocess import grammar_name

    assert grammar_name(language, path) == grammar


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab é(){}:;\n\t'\"=ifreturn", max_size=40),
       language=st.sampled_from(["python", "javascript", "java", "ruby"]))
def test_incremental_parses_count_the_errors_of_a_fresh_parse(text, language):
    from codefill.model.grammars import parser_for
    from codefill.model.postprocess.syntax import SyntaxCheck, count_errors

    prefix, suffix = "def f(é):\n    s = 'ü'\n    if s:\n", "\n    return s\n\nclass A:\n    pass\n"
    check = SyntaxCheck(prefix, suffix, language)
    fresh = count_errors(parser_for(language).parse((prefix + text + suffix).encode()))
    if language != "python":  # python also counts empty blocks near the hole (below)
        assert check.errors(text) == fresh
    assert check.errors("") == check.baseline


def test_a_python_block_without_body_counts_as_an_error():
    from codefill.model.postprocess.syntax import SyntaxCheck

    check = SyntaxCheck("def f(l):\n    for x in l:\n", "\n", "python")
    assert check.baseline == 1  # the for loop has no body yet
    assert check.errors("        print(x)") == 0
    assert check.errors("        print(x)\n    while x:") == 1


def test_the_syntax_rule_holds_back_lines_that_may_be_cut_while_streaming():
    options = PostprocessOptions(multiline=True, language="python")
    post = StreamingPostprocessor("def f(l):\n    ", "\n", options)
    assert post.feed("total = 0\n") == ("total = 0", False)
    # An `if` with no body parses worse: held until its body comes.
    assert post.feed("    if total:\n") == ("", False)
    assert post.feed("        total += 1\n") == ("\n    if total:\n        total += 1", False)
    assert post.feed("    return (total") == ("", False)
    assert post.finish() == ""  # the unclosed call is dropped


# --- ended early (a time budget) -------------------------------------------------

def test_ended_early_a_multi_line_completion_keeps_its_whole_lines():
    post = StreamingPostprocessor("def f(a):\n    ", "\n", PostprocessOptions(multiline=True))
    post.whole_lines = True  # what the server sets when a request has a time budget
    streamed, _ = post.feed("b = a\n    c = b\n    return c +")
    assert streamed == "b = a\n    c = b"
    assert streamed + post.finish_early() == "b = a\n    c = b"


def test_ended_early_a_single_line_keeps_what_it_has():
    post = StreamingPostprocessor("total = ", "\nprint(total)\n", PostprocessOptions(multiline=False))
    streamed, _ = post.feed("price * count +")
    assert streamed + post.finish_early() == "price * count +"
