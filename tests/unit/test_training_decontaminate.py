"""Decontamination: three sampled 50-character substrings per HumanEval / MBPP problem."""

from __future__ import annotations

import random
import time

import pytest

from codefill.jobs.training.decontaminate import (
    BenchmarkProblem,
    Decontaminator,
    Needle,
    SubstringIndex,
    benchmark_problems,
    normalize,
    sample_needles,
)
from tests.unit.training_repo import APP_PY, UTIL_PY, humaneval_solution, mbpp_paste


@pytest.fixture(scope="module")
def decontaminator() -> Decontaminator:
    return Decontaminator()


def test_all_problems_of_both_benchmarks_are_indexed():
    problems = benchmark_problems()
    by_benchmark = {b: sum(1 for p in problems if p.benchmark == b) for b in ("humaneval", "mbpp")}
    assert by_benchmark == {"humaneval": 164, "mbpp": 974}  # every MBPP split


def test_needles_are_three_deterministic_50_character_substrings():
    problem = BenchmarkProblem("mbpp", "Mbpp/1", "Write a  function\tTO find the minimum cost path " * 3)
    needles = sample_needles(problem)
    assert len(needles) == 3 and all(len(n.text) == 50 for n in needles)
    assert all(n.text in normalize(problem.text) for n in needles)
    assert sample_needles(problem) == needles
    assert sample_needles(problem, seed=1) != needles
    assert normalize("A  b\n\t C ") == "a b c"


def test_an_mbpp_solution_pasted_into_a_file_is_caught_and_a_clean_file_kept(decontaminator):
    problem_id, pasted = mbpp_paste()
    reindented = pasted.replace("    ", "\t").upper()  # normalisation: case and whitespace do not hide it
    result = decontaminator.filter([("clean.py", APP_PY), ("pasted.py", pasted), ("other.py", UTIL_PY),
                                    ("reindented.py", reindented)])
    assert result.kept == ["clean.py", "other.py"]
    assert result.dropped == [("pasted.py", (problem_id,)), ("reindented.py", (problem_id,))]
    assert result.texts_by_benchmark == {"humaneval": 0, "mbpp": 2}
    assert result.problems_by_benchmark == {"humaneval": [], "mbpp": [problem_id]}


def test_a_humaneval_solution_is_caught(decontaminator):
    problem_id, text = humaneval_solution()
    assert decontaminator.matches("x = 1\n" + text) == [("humaneval", problem_id)]


def test_the_index_finds_needles_at_every_offset():
    rng = random.Random(0)
    alphabet = "abcdefgh ()=:"
    needles = [Needle("".join(rng.choice(alphabet) for _ in range(50)), "b", f"p/{i}") for i in range(40)]
    needles.append(Needle("short needle", "b", "p/short"))
    index = SubstringIndex(needles)
    for offset in range(60):
        needle = needles[offset % 40]
        text = "z" * offset + needle.text + "z" * (offset % 7)
        assert needle in index.find(text)
    assert [n.problem_id for n in index.find("zz short needle zz")] == ["p/short"]
    assert index.find("z" * 500) == []


def test_scanning_a_few_megabytes_is_fast(decontaminator):
    rng = random.Random(1)
    words = APP_PY.split() + UTIL_PY.split()
    texts = [(f"f{i}", " ".join(rng.choice(words) for _ in range(1500))) for i in range(400)]
    size = sum(len(t) for _, t in texts)
    started = time.perf_counter()
    result = decontaminator.filter(texts)
    elapsed = time.perf_counter() - started
    assert size > 3_000_000 and len(result.kept) == 400
    assert elapsed < 5  # about 0.2 s on an idle core; the naive `in` per needle takes ~10 s
