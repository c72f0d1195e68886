"""`codefill train`'s data: a repository turned into FIM training and evaluation examples.

- `repo_files`: the repository's files (git's list, .gitignore honoured), their
  language (`languages`), and the skipped ones by reason (vendored, generated,
  minified, binary, huge, empty, unknown language).
- `dedup`: exact and MinHash-LSH near-duplicate removal over any keyed texts.
- `decontaminate`: HumanEval/MBPP decontamination with sampled 50-character substrings.
- `split`: whole files held out for evaluation, by a hash of path and seed.
- `fim_cuts` / `blocks`: where holes are cut (inside a line, a whole line, a
  tree-sitter block body); `fim_examples`: token ids and labels built with the
  server's own template and context fitting, and the JSON Lines format.
- `dataset`: `build_dataset`, all of the above with the counts of every step.

and the training on them (`codefill train`, commands/train.py):

- `train_run`: the run's settings from the command line, the run, and the lines said at its end.
- `train_config`: a run's settings, saved with it and checked on `--resume`.
- `trainer`: the loop (accelerate: one CPU, one GPU, or many with the
  DeepSpeed ZeRO-3 / FSDP files in `configs/`), with `lora_config`,
  `precision`, `batches`, `loss` (the middle only), `checkpoints` (exact
  resume) and `run_data` (the dataset written once, read back on resume).
- `evaluate`: held-out FIM exact match and middle loss, before and after.
- `loss_plot`, `train_report`: the loss curve PNG and the JSON/Markdown report.
- `merge`: the adapter folded into the base model (`--merge`).

A library: nothing here prints except the trainer's progress (stderr, main process); the command prints
what `train_run.train` returns.
"""

from codefill.jobs.training.dataset import DatasetReport, build_dataset
from codefill.jobs.training.decontaminate import BenchmarkProblem, Decontaminator
from codefill.jobs.training.dedup import DedupResult, deduplicate
from codefill.jobs.training.fim_examples import (
    Example,
    ExampleBuilder,
    ExampleOptions,
    build_eval_examples,
    read_examples,
    write_examples,
)
from codefill.jobs.training.repo_files import RepoScan, SourceFile, scan_repository
from codefill.jobs.training.split import Split, split_files

__all__ = [
    "BenchmarkProblem",
    "DatasetReport",
    "Decontaminator",
    "DedupResult",
    "Example",
    "ExampleBuilder",
    "ExampleOptions",
    "RepoScan",
    "SourceFile",
    "Split",
    "build_dataset",
    "build_eval_examples",
    "deduplicate",
    "read_examples",
    "scan_repository",
    "split_files",
    "write_examples",
]
