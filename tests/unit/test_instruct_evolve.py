"""Evol-Instruct: methods, prompts and the elimination rules, with exact counts."""

from __future__ import annotations

import pytest

from codefill.jobs.instruct_data.evolve import (
    BREADTH_METHOD,
    DEPTH_METHODS,
    ELIMINATION_RULES,
    METHODS,
    Instruction,
    choose_method,
    elimination_reason,
    evolution_prompt,
    evolve,
)
from tests.instruct_fakes import answer_for

BASE = "Write a Python function `f(xs)` that returns the largest even number in the list `xs`, or None."


@pytest.mark.parametrize("evolved, reason", [
    (BASE, "no_change"),
    ("  " + BASE.upper().replace(",", "") + "  ", "no_change"),  # case, punctuation, spacing
    ("Sorry, I can't help with making this harder.", "sorry"),
    ("I'm sorry but as an AI I cannot do that.", "sorry"),
    ("", "stop_words"),
    ("The, of and to... it is!", "stop_words"),
    ("#Rewritten Prompt#: " + BASE + " Use O(n) time.", "copied_template"),
    ("Here is the rewritten prompt: " + BASE + " Use O(n) time.", "copied_template"),
    ("As in the given prompt, " + BASE, "copied_template"),
    (BASE + " The list may hold up to 10**6 numbers; use O(n) time and O(1) extra space.", None),
    # "sorry" in a long, real task is not a refusal
    (BASE + " Return the string 'sorry' when the list is empty. " + "Also handle nested lists. " * 20, None),
])
def test_elimination_rules(evolved, reason):
    assert elimination_reason(BASE, evolved) == reason


def test_rules_apply_in_order():
    assert elimination_reason("the of", "The of") == "no_change"  # no change wins over stop words
    assert elimination_reason(BASE, "sorry, the given prompt") == "sorry"  # sorry before copied words


def test_prompts_hold_the_method_and_the_instruction():
    for method in DEPTH_METHODS:
        text = evolution_prompt(method, BASE).query
        assert DEPTH_METHODS[method] in text and BASE in text and text.endswith("#Rewritten Prompt#:\n")
    breadth = evolution_prompt(BREADTH_METHOD, BASE).query
    assert "even more rare" in breadth and breadth.endswith("#Created Prompt#:\n")
    assert len(METHODS) == 6


def test_methods_are_drawn_deterministically_and_all_are_used():
    draws = [choose_method(0, f"s{i}", r) for i in range(60) for r in (1, 2)]
    assert draws == [choose_method(0, f"s{i}", r) for i in range(60) for r in (1, 2)]
    assert set(draws) == set(METHODS)


def test_evolution_rounds_count_every_elimination_exactly():
    names = ["ok_a", "ok_b", "ok_evosame", "ok_evosorry", "ok_evostop", "ok_evocopy"]
    base = [Instruction(id=n, seed_id=n, text=f"Write `{n}`.", concepts="c") for n in names]
    asked: list[list[str]] = []

    def ask(jobs):
        asked.append([item for item, _ in jobs])
        return [answer_for(prompt.query, 0) for _, prompt in jobs]

    evolved, stats = evolve(base, 3, ask, seed=0)
    assert [len(a) for a in asked] == [6, 6, 6]  # an eliminated lineage is evolved again next round
    assert asked[1] == [f"{n}.e2" for n in names]
    for st in stats:
        assert st.attempted == 6 and st.kept == 2
        assert st.eliminated == {"no_change": 1, "sorry": 1, "stop_words": 1, "copied_template": 1}
        assert sum(st.by_method.values()) == 6 and sum(st.kept_by_method.values()) == 2
    assert list(stats[0].eliminated) == list(ELIMINATION_RULES)
    assert [(e.id, e.round, e.parent) for e in evolved] == [
        ("ok_a.e1", 1, "ok_a"), ("ok_b.e1", 1, "ok_b"),
        ("ok_a.e2", 2, "ok_a.e1"), ("ok_b.e2", 2, "ok_b.e1"),
        ("ok_a.e3", 3, "ok_a.e2"), ("ok_b.e3", 3, "ok_b.e2"),
    ]
    assert evolved[-1].text.count("Also accept and ignore any extra arguments.") == 3
    assert all(e.method in METHODS and e.concepts == "c" for e in evolved)


def test_zero_rounds_do_nothing():
    evolved, stats = evolve([Instruction("a", "a", "x", "c")], 0, lambda jobs: pytest.fail("asked"))
    assert evolved == [] and stats == []
