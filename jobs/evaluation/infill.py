"""HumanEval infilling (the tasks of the InCoder, SantaCoder and FIM papers): scoring, and
`evaluate_infill`, which runs systems over the cases.

The cases themselves, and `select_cases`, are `codefill.jobs.evaluation.infill_cases`.

Scoring
-------
* pass@1 (greedy, one sample): the completion is put in place of the middle,
  the problem's tests run (see `execution`), and the case passes when they do.
* exact match: the completion's non-blank lines, each stripped, equal the
  middle's (as in the papers, indentation and trailing spaces do not count; for
  a single-line middle this is ``completion.strip() == middle.strip()``).

Best-line oracle
----------------
A system named in `evaluate_infill`'s ``oracles`` is scored by the best cut of
its text at line boundaries, as an upper bound of what a line-level cut of
that (raw, not post-processed) text can reach: the candidates are its first 1
line, first 2 lines, ... and the whole text last (`line_cuts`), each run with
the case's tests in turn; the answer is the first candidate that passes, else
the whole text (failing). An empty (or whitespace-only) text fails without a run. A cut whose last
line is blank is not run: it is the cut before it plus whitespace.

`evaluate_infill` drives any number of systems (each an async function that
fills one case) over the same cases, interleaved, and reports progress through
a callback; it prints nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from codefill.jobs.evaluation.case_runner import Fill, fill_or_error, run_cases, system_order
from codefill.jobs.evaluation.execution import (
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_TIMEOUT_S,
    ExecutionResult,
    run_program_async,
)

from codefill.jobs.evaluation.infill_cases import InfillCase

if TYPE_CHECKING:
    from codefill.jobs.sandbox import Sandbox


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def exact_match(completion: str, middle: str) -> bool:
    """Same non-blank lines, each compared stripped (see the module docstring)."""
    return _code_lines(completion) == _code_lines(middle)


def first_line(text: str) -> str:
    """Everything before the first newline: the minimal single-line cut a client makes."""
    return text.split("\n", 1)[0]


def count_lines(text: str) -> int:
    """Lines of `text` ("a" and "a\n": 1, "a\nb": 2, "": 0)."""
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def line_cuts(text: str) -> list[str]:
    """The best-line oracle's candidates, in the order they are tried: the first 1, 2, ...
    lines of `text` (without the newline after the last), then the whole text. A cut whose
    last line is blank is left out (it runs as the cut before it); the whole text never is.
    Empty (or whitespace-only) text: none."""
    if not text.strip():
        return []
    lines = text.split("\n")
    cuts = ["\n".join(lines[:k]) for k in range(1, len(lines)) if lines[k - 1].strip()]
    return [*cuts, text]


# --- evaluation --------------------------------------------------------------


Filler = Callable[[InfillCase], Awaitable[Fill]]


@dataclass
class CaseOutcome:
    system: str
    fill: Fill  # an oracle's: `text` is the cut it chose, `raw_text` what the server sent
    exact_match: bool
    execution: ExecutionResult | None  # None when the request failed
    programs_run: int | None = None  # oracles only: candidate programs run for this case

    @property
    def status(self) -> str:
        return "error" if self.execution is None else self.execution.status

    @property
    def passed(self) -> bool:
        return self.execution is not None and self.execution.passed

    def to_dict(self) -> dict:
        d = asdict(self.fill)
        d["completion"] = d.pop("text")
        d.update(
            exact_match=self.exact_match,
            status=self.status,
            passed=self.passed,
            returncode=None if self.execution is None else self.execution.returncode,
            stderr_tail=None if self.execution is None else self.execution.stderr_tail[-500:],
            exec_s=None if self.execution is None else round(self.execution.duration_s, 4),
        )
        if self.programs_run is not None:
            d.update(cut_lines=None if self.fill.error is not None else count_lines(self.fill.text),
                     programs_run=self.programs_run)
        return d


@dataclass
class CaseRecord:
    index: int  # position in the evaluated case list
    case: InfillCase
    outcomes: dict[str, CaseOutcome]  # by system name, in the order the requests were sent

    def to_dict(self) -> dict:
        return {
            "case_id": self.case.case_id,
            "middle": self.case.middle,
            "order": list(self.outcomes),
            **{name: o.to_dict() for name, o in self.outcomes.items()},
        }


@dataclass
class Progress:
    done: int
    total: int
    passed: dict[str, int] = field(default_factory=dict)
    exact: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def pass_at_1(self, system: str) -> float:
        return self.passed.get(system, 0) / self.done if self.done else 0.0

    def exact_match_rate(self, system: str) -> float:
        return self.exact.get(system, 0) / self.done if self.done else 0.0


ProgressCallback = Callable[[Progress, CaseRecord], None]


async def evaluate_infill(
    cases: Sequence[InfillCase],
    fillers: Mapping[str, Filler],
    *,
    concurrency: int = 1,
    exec_timeout_s: float = DEFAULT_TIMEOUT_S,
    exec_workers: int = 2,
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    alternate_order: bool = True,
    progress: ProgressCallback | None = None,
    sandbox: Sandbox | None = None,
    oracles: Collection[str] = (),
) -> list[CaseRecord]:
    """Fill every case with every system, run the tests, return records in case order.

    Interleaving: `concurrency` workers take cases in order; a worker sends its
    case to each system back to back (system order reversed on every other
    case when `alternate_order`, so neither system is always first), then runs
    the programs (at most `exec_workers` at a time, in threads). A request that
    raises is recorded as an error (not passed). `progress` is called after each
    case with running totals. The programs run in `sandbox` (default: the
    bubblewrap sandbox of `codefill.jobs.sandbox.get_sandbox()`, checked before any case).
    The systems named in `oracles` are best-line oracles (see the module docstring):
    their candidates run one after the other, each within the same `exec_workers`.
    """
    if sandbox is None:
        from codefill.jobs.sandbox import get_sandbox

        sandbox = get_sandbox()
    names = list(fillers)
    if not names:
        raise ValueError("no systems to evaluate")
    unknown = set(oracles) - set(names)
    if unknown:
        raise ValueError(f"oracles without a filler: {', '.join(sorted(unknown))}")
    total = len(cases)
    prog = Progress(done=0, total=total, passed=dict.fromkeys(names, 0),
                    exact=dict.fromkeys(names, 0), errors=dict.fromkeys(names, 0))
    records: list[CaseRecord | None] = [None] * total
    exec_sem = asyncio.Semaphore(max(1, exec_workers))
    start = time.monotonic()

    async def run(case: InfillCase, text: str) -> ExecutionResult:
        async with exec_sem:
            return await run_program_async(
                case.program(text), timeout_s=exec_timeout_s, memory_limit_mb=memory_limit_mb,
                sandbox=sandbox,
            )

    async def execute(case: InfillCase, fill: Fill) -> ExecutionResult | None:
        return None if fill.error is not None else await run(case, fill.text)

    async def outcome(name: str, case: InfillCase, fill: Fill) -> CaseOutcome:
        if name not in oracles:
            return CaseOutcome(name, fill, exact_match(fill.text, case.middle), await execute(case, fill))
        if fill.error is not None:
            return CaseOutcome(name, fill, False, None, programs_run=0)
        cuts = line_cuts(fill.text)
        if not cuts:  # nothing (but whitespace) written: fails, even where an empty middle would pass
            empty = ExecutionResult(status="failed", returncode=None, duration_s=0.0,
                                    stderr_tail="best-line oracle: empty completion, not run")
            return CaseOutcome(name, fill, exact_match(fill.text, case.middle), empty, programs_run=0)
        for n, cut in enumerate(cuts, 1):
            result = await run(case, cut)
            if result.passed:
                break
        # the first cut that passed, else the whole text (the last one run) with its failure
        chosen = replace(fill, text=cut)
        return CaseOutcome(name, chosen, exact_match(cut, case.middle), result, programs_run=n)

    async def one_case(i: int) -> None:
        case = cases[i]
        order = system_order(names, i, alternate_order)
        fills = {name: await fill_or_error(fillers[name], case) for name in order}
        results = await asyncio.gather(*(outcome(n, case, fills[n]) for n in order))
        outcomes = dict(zip(order, results))
        record = CaseRecord(i, case, outcomes)
        records[i] = record
        prog.done += 1
        for n, o in outcomes.items():
            prog.passed[n] += o.passed
            prog.exact[n] += o.exact_match
            prog.errors[n] += o.fill.error is not None
        prog.elapsed_s = time.monotonic() - start
        if progress is not None:
            progress(prog, record)

    await run_cases(total, one_case, concurrency)
    return [r for r in records if r is not None]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _mean(values: Sequence[int]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize(records: Sequence[CaseRecord], systems: Sequence[str] | None = None) -> dict[str, dict]:
    """Per system: cases, passed, pass@1, exact matches, errors, timeouts, latency, and the
    mean lines of the completions (an oracle's: of its cuts) over the answered cases and over
    the passed ones; oracles also count the candidate programs they ran."""
    if systems is None:
        systems = list(records[0].outcomes) if records else []
    out: dict[str, dict] = {}
    for name in systems:
        outs = [r.outcomes[name] for r in records if name in r.outcomes]
        n = len(outs)
        lat = [o.fill.latency_s for o in outs if o.fill.latency_s is not None]
        passed = sum(o.passed for o in outs)
        exact = sum(o.exact_match for o in outs)
        out[name] = {
            "cases": n,
            "passed": passed,
            "pass_at_1": passed / n if n else 0.0,
            "exact_matches": exact,
            "exact_match": exact / n if n else 0.0,
            "errors": sum(o.status == "error" for o in outs),
            "timeouts": sum(o.status == "timeout" for o in outs),
            "latency_p50_s": _pct(lat, 50),
            "latency_p95_s": _pct(lat, 95),
            "mean_lines": _mean([count_lines(o.fill.text) for o in outs if o.fill.error is None]),
            "mean_lines_passed": _mean([count_lines(o.fill.text) for o in outs if o.passed]),
        }
        if any(o.programs_run is not None for o in outs):
            out[name]["programs_run"] = sum(o.programs_run or 0 for o in outs)
    return out
