"""The HumanEval infilling cases, single-line and multi-line (the tasks of the InCoder,
SantaCoder and FIM papers), and `select_cases`, the deterministic sample every benchmark takes.

Apart from scoring and `evaluate_infill` (`codefill.jobs.evaluation.infill`) because the cases are
fixed by the installed problems and are read by more than the infilling run (the instruct
benchmarks sample their problems with `select_cases`).

Single-line cases
-----------------
For every problem and every NON-BLANK line of its canonical solution, one case:

* ``prefix`` = the problem's prompt + the solution lines before that line
  (so it ends with a newline: the cursor is at column 0 of the line, before
  its indentation, and the model has to write the indentation too);
* ``middle`` = that line's text, indentation included, WITHOUT its newline;
* ``suffix`` = that line's newline + the solution lines after it.

``prefix + middle + suffix == prompt + canonical_solution`` exactly. Putting the
newline in the suffix (not in the middle) matches the papers, where the middle
is the line's content, and it is what an editor shows: the cursor sits on a
line whose rest is empty and the next character is the newline. Case ids are
``HumanEval/N/L<i>`` with ``i`` the 0-based index of the line within the
canonical solution (blank lines count in the numbering but give no case), as
in the ``SingleLineInfilling/HumanEval/N/L<i>`` ids of OpenAI's
human-eval-infilling. HumanEval has 1033 such cases.

Multi-line cases
----------------
The definition of OpenAI's ``HumanEval-MultiLineInfilling`` (Bavarian et al.,
"Efficient Training of Language Models to Fill in the Middle", 2022): for every
problem, every contiguous span of lines ``i..j`` (``i <= j``) of the canonical
solution whose FIRST and LAST lines are non-blank (blank lines inside the span
are kept) is one case. Single-line spans (``i == j``) are included, exactly as
in that benchmark, so the multi-line set contains the 1033 single-line cases;
HumanEval gives 5815 multi-line cases, the size of the published benchmark.
``prefix``/``middle``/``suffix`` follow the single-line convention: the prefix
ends with the newline before line ``i``, the middle is lines ``i..j`` joined by
newlines WITHOUT the newline after line ``j``, and the suffix starts with that
newline. Case ids are ``HumanEval/N/L<i>_L<j>`` (inclusive), as the
``MultiLineInfilling/HumanEval/N/L<i>_L<j>`` ids of human-eval-infilling.
The case set is fully determined by the installed problems (no sampling);
`select_cases` takes a deterministic sample when asked to.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from codefill.jobs.evaluation.execution import build_program
from codefill.jobs.evaluation.humaneval import Problem, load_problems


@dataclass(frozen=True)
class InfillCase:
    case_id: str  # "HumanEval/N/L<i>"
    task_id: str  # "HumanEval/N"
    line: int  # 0-based index of the line in the canonical solution
    prefix: str
    middle: str
    suffix: str
    test: str
    entry_point: str
    last_line: int | None = None  # multi-line cases: 0-based index of the span's last line

    @property
    def span(self) -> tuple[int, int]:
        """(first, last) line of the middle in the canonical solution, inclusive."""
        return self.line, self.line if self.last_line is None else self.last_line

    def program(self, completion: str) -> str:
        return build_program(self.prefix, completion, self.suffix, self.test, self.entry_point)


class _Solution:
    """A problem's canonical solution as lines, with where each starts in prompt + solution."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.full = problem.prompt + problem.canonical_solution
        # split("\n"), not splitlines(): only "\n" ends a line of code here.
        self.lines = problem.canonical_solution.split("\n")
        self.starts: list[int] = []
        offset = len(problem.prompt)
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line) + 1
        self.nonblank = [i for i, line in enumerate(self.lines) if line.strip()]

    def case(self, case_id: str, first: int, last: int, last_line: int | None) -> InfillCase:
        """Lines first..last (inclusive) are the middle; their final newline starts the suffix."""
        start, end = self.starts[first], self.starts[last] + len(self.lines[last])
        p = self.problem
        return InfillCase(
            case_id=case_id,
            task_id=p.task_id,
            line=first,
            prefix=self.full[:start],
            middle=self.full[start:end],
            suffix=self.full[end:],
            test=p.test,
            entry_point=p.entry_point,
            last_line=last_line,
        )


def cases_for_problem(problem: Problem) -> list[InfillCase]:
    """One case per non-blank line of the canonical solution, in line order."""
    sol = _Solution(problem)
    return [sol.case(f"{problem.task_id}/L{i}", i, i, None) for i in sol.nonblank]


def multiline_cases_for_problem(problem: Problem) -> list[InfillCase]:
    """One case per span of solution lines whose first and last lines are non-blank,
    ordered by first line, then last line."""
    sol = _Solution(problem)
    return [
        sol.case(f"{problem.task_id}/L{i}_L{j}", i, j, j)
        for a, i in enumerate(sol.nonblank)
        for j in sol.nonblank[a:]
    ]


MODES = ("single-line", "multi-line")


def build_cases(problems: Sequence[Problem] | None = None, mode: str = "single-line") -> list[InfillCase]:
    """All cases of `mode` ("single-line": 1033, "multi-line": 5815), in problem
    order, then line order."""
    if mode not in MODES:
        raise ValueError(f"unknown infilling mode {mode!r}; known: {', '.join(MODES)}")
    problems = load_problems() if problems is None else problems
    per_problem = cases_for_problem if mode == "single-line" else multiline_cases_for_problem
    return [case for p in problems for case in per_problem(p)]


Item = TypeVar("Item")


def select_cases(cases: Sequence[Item], limit: int | None = None, seed: int = 0) -> list[Item]:
    """A deterministic sample of `limit` cases (all when `limit` is None or too big);
    any sequence works (the instruct benchmarks sample their problems with it).

    The sample depends only on (number of cases, limit, seed) and keeps the
    original order, so two runs (or two systems) with the same arguments get
    exactly the same cases in the same order.
    """
    if limit is None or limit >= len(cases):
        return list(cases)
    if limit <= 0:
        return []
    chosen = sorted(random.Random(seed).sample(range(len(cases)), limit))
    return [cases[i] for i in chosen]
