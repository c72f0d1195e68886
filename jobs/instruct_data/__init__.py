"""`codefill data instruct`: instruction data from the user's own repository, with no outside teacher.

Self-OSS-Instruct (StarCoder2-Instruct) with Evol-Instruct (WizardCoder) rounds,
through any OpenAI-compatible server (the model being tuned, served by
`codefill serve`):

- `seeds`: functions and methods with docstrings (tree-sitter), parsed,
  deduplicated (MinHash, Jaccard >= 0.5) and decontaminated (HumanEval, MBPP),
  with the count of every filter step.
- `prompts`: the few-shot prompts (seed -> concepts -> instruction;
  instruction -> reasoning, implementation, explanation, tests) and the instruction's parser;
  `responses`: the answers' parser and checks.
- `generate`: the async client (completions or chat), concurrency, retries,
  and the resumable store of answers keyed by the exact request.
- `evolve`: Evol-Instruct's depth and breadth methods and the elimination rules.
- `sandbox`: the responses' tests in `codefill.jobs.sandbox` (bubblewrap: own namespaces,
  uid 65534, no network, read-only system, private tmpfs, seccomp, limits), and the
  statuses the report counts.
- `validate`: responses run with their own tests; the first passing one per
  instruction is kept; pass rates.
- repairs a small teacher needs: `missing_imports` (imports an answer forgot), `pruned_tests`
  (`--prune-tests`: right code, some wrong tests), `distinct_tasks` (one instruction per task),
  `own_answers` (`--answers own`: answers in the served model's own voice).
- `dataset`: the JSONL of chat messages (with `meta`), decontaminated again.
- `report`: counts of every step, pass rates, durations (JSON and Markdown).
- `pipeline`: `run_instruct`, all of it in order; `data_run`: its settings from the command line, and the
  lines the command prints at the end.

A library: nothing here prints; progress bars go to stderr when asked for.
"""

from codefill.jobs.instruct_data.pipeline import InstructConfig, run_instruct, summary

__all__ = ["InstructConfig", "run_instruct", "summary"]
