"""A rewritten window as minimal edits: the golden cases (tests/golden/next_edit) document each rule,
and tests/golden/next_edit_whitespace the whitespace rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from codefill.model.next_edit_edits import (
    Position,
    TextEdit,
    align_final_break,
    apply_edits,
    compute_edits,
    drop_whitespace_changes,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "next_edit"
CASES = sorted(GOLDEN.glob("*.yaml"))


def _edit(raw: dict) -> TextEdit:
    return TextEdit(Position(*raw["start"]), Position(*raw["end"]), raw["text"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    edits = compute_edits(case["window"], case["rewrite"], case["start_line"])
    assert edits == [_edit(e) for e in case["edits"]], case["why"]
    if edits:
        assert apply_edits(case["window"], edits, case["start_line"]) == case["rewrite"]


def test_the_golden_cases_are_there():
    assert len(CASES) >= 10


@pytest.mark.parametrize("window, rewrite, expected", [
    ("a\nb\n", "a\nb", "a\nb\n"),  # the model dropped the final break
    ("a\nb", "a\nb\n", "a\nb"),  # the end marker's own line break
    ("a\r\n", "a\n", "a\r\n"),
    ("a\n", "", ""),  # nothing stays nothing (the safety rule refuses it)
    ("", "\n", ""),
])
def test_the_rewrite_ends_as_the_window_does(window, rewrite, expected):
    assert align_final_break(window, rewrite) == expected


LINES = st.lists(st.sampled_from(["a = 1", "b = 2", "", "  x\u00e9", "s = '\U0001F600'", "return a"]),
                 max_size=6)
BREAKS = st.sampled_from(["\n", "\r\n"])


@settings(max_examples=300, deadline=None)
@given(LINES, LINES, BREAKS, st.booleans(), st.integers(0, 50))
def test_applying_the_edits_gives_the_rewrite(old, new, brk, final, start_line):
    window = brk.join(old) + (brk if final and old else "")
    rewrite = brk.join(new) + (brk if final and new else "")
    edits = compute_edits(window, rewrite, start_line)
    if not edits:
        cut_short = window.startswith(rewrite) and (not rewrite or rewrite.endswith("\n"))
        assert rewrite == window or (not rewrite.strip() and window.strip()) or cut_short
        return
    assert apply_edits(window, edits, start_line) == rewrite
    ends = [(e.start.line, e.start.character) for e in edits] + [(edits[-1].end.line, edits[-1].end.character)]
    assert ends == sorted(ends) and all(e.start.line >= start_line for e in edits)


WHITESPACE = sorted((GOLDEN.parent / "next_edit_whitespace").glob("*.yaml"))


@pytest.mark.parametrize("path", WHITESPACE, ids=[p.stem for p in WHITESPACE])
def test_whitespace_golden(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert drop_whitespace_changes(case["window"], case["rewrite"], case["events"]) == case["expected"], case["why"]


def test_the_whitespace_golden_cases_are_there():
    assert len(WHITESPACE) >= 10
