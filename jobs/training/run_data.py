"""A run's dataset: built once into `<out>/data/`, read back from there on `--resume`.

Reading the written examples back, rather than rebuilding them, makes a
resumed run train on exactly the examples the interrupted one had, whatever
changed in the repository since. Under several processes the main process
builds and writes, the others wait and read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codefill.jobs.training.dataset import EVAL_FILE, REPORT_FILE, TRAIN_FILE, build_dataset
from codefill.jobs.training.fim_examples import Example, read_examples
from codefill.jobs.training.train_config import TrainConfig

DATA_SUBDIR = "data"


@dataclass
class RunData:
    train: list[Example]
    eval: list[Example]
    template: str
    report: dict[str, Any]  # data-report.json: the counts of every step
    summary: str  # a few lines for the terminal


def data_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / DATA_SUBDIR


def has_data(out_dir: str | Path) -> bool:
    d = data_dir(out_dir)
    return all((d / name).is_file() for name in (TRAIN_FILE, EVAL_FILE, REPORT_FILE))


def prepare_run_data(config: TrainConfig, tokenizer: Any, accelerator: Any, *, reuse: bool) -> RunData:
    """Build (main process) or read the run's examples; `reuse` reads what an earlier session wrote."""
    folder = data_dir(config.out)
    summary = ""
    if not (reuse and has_data(config.out)) and accelerator.is_main_process and config.next_edit:
        summary = _write_next_edit_data(config, tokenizer, folder)
    elif not (reuse and has_data(config.out)) and accelerator.is_main_process and config.instruct:
        summary = _write_chat_data(config, tokenizer, folder)
    elif not (reuse and has_data(config.out)) and accelerator.is_main_process:
        report = build_dataset(
            config.repo, tokenizer, config.fim_template, seq_len=config.seq_len, fim_rate=config.fim_rate,
            holdout_fraction=config.holdout, seed=config.seed, decontaminate=config.decontaminate,
            max_examples_per_file=config.max_examples_per_file, progress=config.progress,
        )
        report.write(folder)
        summary = report.summary()
    accelerator.wait_for_everyone()
    if not has_data(config.out):
        raise RuntimeError(f"no dataset in {folder}: building it failed on the main process")
    counts = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    train = read_examples(folder / TRAIN_FILE)
    held_out = read_examples(folder / EVAL_FILE)
    if not train and config.next_edit:
        c = counts.get("collected", {}).get("counts", {})
        raise ValueError(f"{config.repo} gave no next-edit training examples ({c.get('commits', 0)} commits, "
                         f"{c.get('files', 0)} changed code files read; see {folder / REPORT_FILE})")
    if not train and config.instruct:
        c = counts.get("counts", {})
        raise ValueError(f"{config.repo} gave no training dialogues ({c.get('dialogues', 0)} read, dropped: "
                         f"{c.get('dropped') or 'none'}; see {folder / REPORT_FILE})")
    if not train:
        files = counts.get("counts", {}).get("files", {})
        raise ValueError(
            f"{config.repo} gave no training examples ({files.get('kept', 0)} source files kept of "
            f"{files.get('seen', 0)} seen; see {folder / REPORT_FILE})"
        )
    return RunData(train=train, eval=held_out, template=counts["template"], report=counts,
                   summary=summary or f"dataset read from {folder}: {len(train)} training, {len(held_out)} "
                                      "held-out examples")


def _write_chat_data(config: TrainConfig, tokenizer: Any, folder: Path) -> str:
    """The chat dialogues as examples (the tokenizer already carries its chat template), written like FIM data."""
    from codefill.jobs.training.chat_examples import build_chat_dataset, read_dialogues

    dataset = build_chat_dataset(read_dialogues(config.repo), tokenizer, seq_len=config.seq_len,
                                 holdout_fraction=config.holdout, seed=config.seed)
    return _write_dataset(dataset, folder)


def _write_next_edit_data(config: TrainConfig, tokenizer: Any, folder: Path) -> str:
    """Next-edit cases from the repository's history as examples, written like FIM data."""
    from codefill.jobs.next_edit_data.collect import DEFAULT_MAX_COMMITS
    from codefill.jobs.training.next_edit_examples import build_next_edit_dataset

    dataset = build_next_edit_dataset(
        config.repo, tokenizer, seq_len=config.seq_len, holdout_fraction=config.holdout, seed=config.seed,
        max_commits=config.max_commits or DEFAULT_MAX_COMMITS, max_examples=config.max_examples,
        decontaminate=config.decontaminate, progress=config.progress)
    return _write_dataset(dataset, folder)


def _write_dataset(dataset: Any, folder: Path) -> str:
    """A built dataset's examples and report (`train`, `eval`, `report()`, `summary()`) into `folder`."""
    from codefill.jobs.training.fim_examples import write_examples

    folder.mkdir(parents=True, exist_ok=True)
    write_examples(folder / TRAIN_FILE, dataset.train)
    write_examples(folder / EVAL_FILE, dataset.eval)
    tmp = folder / (REPORT_FILE + ".tmp")
    tmp.write_text(json.dumps(dataset.report(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(folder / REPORT_FILE)
    return dataset.summary()
