"""How the FIM benchmark scores a completion, and `evaluate_fim`, which fills every case
(`codefill.jobs.evaluation.fim`) with every variant and summarizes the scores per language and layout.

Apart from the cases because scoring and running are what a report reads; sampling cases needs neither.

Scores (`score`)
----------------
* ``exact_match``: line layouts: ``completion.strip() == middle.strip()`` (santacoder-fim's
  own comparison, ``result.strip() == canonical_solution.strip()``, so the santacoder
  middle's newlines do not count); ``block``: the same non-blank lines, each stripped
  (`infill.exact_match`, as HumanEval multi-line infilling).
* ``first_line_match`` (line layouts only): the rule of Qwen2.5-Coder's HumanEval-FIM
  evaluation on the text as returned: its first line, or its second when it starts with
  ``"\\n"`` or ``" \\n"``, stripped, equals the stripped middle. Run on a server with
  post-processing off (or on raw vLLM) this is the published reference figure.
* ``edit_similarity``: ``1 - Levenshtein(c, m) / max(len(c), len(m))`` of the stripped
  completion and middle (1.0 when both are empty); rapidfuzz computes it when installed,
  an exact pure-Python distance otherwise: the same numbers either way.
* ``chars`` (completion length) and ``empty`` (nothing but whitespace).

A library: nothing here prints; `evaluate_fim` reports through a progress callback.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from codefill.jobs.evaluation.case_runner import Fill, fill_or_error, run_cases, system_order
from codefill.jobs.evaluation.fim import FimCase
from codefill.jobs.evaluation.infill import exact_match as lines_exact_match

# --- scores --------------------------------------------------------------------------


def _levenshtein_py(a: str, b: str) -> int:
    if a == b:
        return 0
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start:len(a) - end], b[start:len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@cache
def _levenshtein_impl() -> Callable[[str, str], int]:
    try:
        from rapidfuzz.distance import Levenshtein  # type: ignore[import-not-found]
    except ImportError:
        return _levenshtein_py
    return Levenshtein.distance


def levenshtein(a: str, b: str) -> int:
    return _levenshtein_impl()(a, b)


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length; 1.0 for two empty strings."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def qwen_first_line(text: str) -> str:
    """The line Qwen2.5-Coder's HumanEval-FIM evaluation compares: the first, or the second when
    the text starts with "\\n" or " \\n"; stripped."""
    parts = text.split("\n")
    return (parts[1] if text.startswith(("\n", " \n")) else parts[0]).strip()


def score(case: FimCase, text: str) -> dict[str, Any]:
    """The scores of one completion (see the module docstring)."""
    if case.layout == "block":
        em = lines_exact_match(text, case.middle)
        first = None
    else:
        em = text.strip() == case.middle.strip()
        first = qwen_first_line(text) == case.middle.strip()
    return {"exact_match": em, "first_line_match": first,
            "edit_similarity": round(edit_similarity(text.strip(), case.middle.strip()), 4),
            "chars": len(text), "empty": not text.strip()}


# --- evaluation ----------------------------------------------------------------------

Filler = Callable[[FimCase], Awaitable[Fill]]


@dataclass
class FimOutcome:
    fill: Fill
    scores: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self.fill)
        d["completion"] = d.pop("text")
        d.update(self.scores)
        return d


@dataclass
class FimRecord:
    index: int
    case: FimCase
    outcomes: dict[str, FimOutcome]  # by variant, in the order the requests were sent


@dataclass
class FimProgress:
    done: int
    total: int
    exact: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def exact_match_rate(self, name: str) -> float:
        return self.exact.get(name, 0) / self.done if self.done else 0.0


async def evaluate_fim(cases: Sequence[FimCase], fillers: Mapping[str, Filler], *, concurrency: int = 1,
                       alternate_order: bool = True,
                       progress: Callable[[FimProgress, FimRecord], None] | None = None) -> list[FimRecord]:
    """Fill every case with every variant and score it; records in case order.

    `concurrency` workers take cases in order; a worker sends its case to each variant back
    to back (their order reversed on every other case when `alternate_order`, so no variant
    always comes first, e.g. into a cold prefix cache). A request that raises counts as an
    error (scored as an empty completion)."""
    names = list(fillers)
    if not names:
        raise ValueError("no variants to evaluate")
    prog = FimProgress(done=0, total=len(cases), exact=dict.fromkeys(names, 0), errors=dict.fromkeys(names, 0))
    records: list[FimRecord | None] = [None] * len(cases)
    start = time.monotonic()

    async def one_case(i: int) -> None:
        case = cases[i]
        outcomes = {}
        for name in system_order(names, i, alternate_order):
            fill = await fill_or_error(fillers[name], case)
            outcomes[name] = FimOutcome(fill, score(case, fill.text))
        record = FimRecord(i, case, outcomes)
        records[i] = record
        prog.done += 1
        for name, o in outcomes.items():
            prog.exact[name] += bool(o.scores["exact_match"])
            prog.errors[name] += o.fill.error is not None
        prog.elapsed_s = time.monotonic() - start
        if progress is not None:
            progress(prog, record)

    await run_cases(len(cases), one_case, concurrency)
    return [r for r in records if r is not None]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _metrics(outcomes: Sequence[FimOutcome]) -> dict[str, Any]:
    n = len(outcomes)
    first = [o.scores["first_line_match"] for o in outcomes if o.scores["first_line_match"] is not None]
    tokens = [o.fill.completion_tokens for o in outcomes if o.fill.completion_tokens is not None]
    latency = sorted(o.fill.latency_s for o in outcomes if o.fill.latency_s is not None)
    return {
        "cases": n,
        "line_cases": len(first),  # the cases first_line_match counts (line layouts)
        "exact_match": _mean([float(o.scores["exact_match"]) for o in outcomes]),
        "first_line_match": _mean([float(x) for x in first]),
        # exact match over those same line cases: what the first-line rule is held against
        "line_exact_match": _mean([float(o.scores["exact_match"]) for o in outcomes
                                   if o.scores["first_line_match"] is not None]),
        "edit_similarity": _mean([o.scores["edit_similarity"] for o in outcomes]),
        "mean_chars": _mean([float(o.scores["chars"]) for o in outcomes]),
        "empty_rate": _mean([float(o.scores["empty"]) for o in outcomes]),
        "mean_completion_tokens": _mean([float(t) for t in tokens]),
        "latency_p50_s": statistics.median(latency) if latency else None,
        "errors": sum(o.fill.error is not None for o in outcomes),
    }


def summarize(records: Sequence[FimRecord], variants: Sequence[str] | None = None) -> dict[str, Any]:
    """``{variant: {language: {layout: metrics}}}``, with "all" for every language and layout."""
    if variants is None:
        variants = list(records[0].outcomes) if records else []
    out: dict[str, Any] = {}
    for name in variants:
        groups: dict[tuple[str, str], list[FimOutcome]] = {}
        for r in records:
            o = r.outcomes.get(name)
            if o is None:
                continue
            for key in ((r.case.language, r.case.layout), (r.case.language, "all"), ("all", r.case.layout),
                        ("all", "all")):
                groups.setdefault(key, []).append(o)
        table: dict[str, dict[str, Any]] = {}
        for (language, layout), outs in groups.items():
            table.setdefault(language, {})[layout] = _metrics(outs)
        out[name] = table
    return out
