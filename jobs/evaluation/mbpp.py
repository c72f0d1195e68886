"""MBPP (Austin et al. 2021, "Program Synthesis with Large Language Models"),
read from the `mbpp.jsonl` of google-research (974 problems, task_ids 1..974).

Where the file is: `--data PATH`, else `$CODEFILL_MBPP_FILE`, else
`../shared/data/mbpp/mbpp.jsonl` next to the repository (see the README.md
beside that file for its provenance and checksum). Nothing is downloaded.

Splits (the MBPP README; validation/train boundary as Hugging Face's `mbpp`):
prompt 1-10, test 11-510 (the 500 problems every paper reports), validation
511-600, train 601-974.

Tests, as in the paper and the usual harnesses: the program is the solution,
then `test_setup_code` (after the solution: tasks 367 and 927 build trees of a
`Node` class that the solution defines), then the three asserts of `test_list`.
`challenge_test_list` (harder extra asserts, 11 test-split tasks) is not run.

The entry point (the function the asserts call) is not a field of the data: it
is the first name the asserts call that the reference `code` defines at top
level, else the first non-builtin name they call.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
from dataclasses import dataclass
from pathlib import Path

ENV_FILE = "CODEFILL_MBPP_FILE"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO_ROOT.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"

SPLITS: dict[str, tuple[int, int]] = {  # name -> (first, last) task_id, inclusive
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
}


class MbppUnavailable(RuntimeError):
    """The MBPP data file is not where it was looked for."""


@dataclass(frozen=True)
class MbppProblem:
    task_id: int
    text: str  # the problem statement
    code: str  # the reference solution
    test_setup_code: str
    test_list: tuple[str, ...]  # the asserts that are run
    challenge_test_list: tuple[str, ...]  # extra asserts, not run
    entry_point: str  # the function the asserts call

    @property
    def name(self) -> str:
        return f"Mbpp/{self.task_id}"

    def test_program(self) -> str:
        """What runs after the solution: the setup code, then the asserts."""
        parts = [self.test_setup_code.strip(), *(t.strip() for t in self.test_list)]
        return "\n".join(p for p in parts if p) + "\n"


def data_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The data file: `path`, else $CODEFILL_MBPP_FILE, else the shared default."""
    if path is not None:
        chosen, how = Path(path), "--data"
    elif os.environ.get(ENV_FILE):
        chosen, how = Path(os.environ[ENV_FILE]), f"${ENV_FILE}"
    else:
        chosen, how = DEFAULT_FILE, "the default path"
    if not chosen.is_file():
        raise MbppUnavailable(
            f"MBPP data file not found: {chosen} ({how}); pass --data PATH or set {ENV_FILE} "
            "to google-research's mbpp.jsonl"
        )
    return chosen


def _top_level_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _called_names(asserts: tuple[str, ...]) -> list[str]:
    """Names of the plain functions the asserts call, in order of appearance."""
    names: list[str] = []
    for source in asserts:
        try:
            tree = ast.parse(source.strip())
        except SyntaxError:
            continue
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        calls.sort(key=lambda n: (n.lineno, n.col_offset))
        names.extend(n.func.id for n in calls if n.func.id not in names)
    return names


def find_entry_point(code: str, asserts: tuple[str, ...]) -> str:
    """The function under test (see the module docstring)."""
    called = _called_names(asserts)
    defined = _top_level_names(code)
    for name in called:
        if name in defined:
            return name
    for name in called:
        if not hasattr(builtins, name):
            return name
    raise ValueError(f"no function call found in the asserts {asserts!r}")


def load_problems(path: str | os.PathLike[str] | None = None, split: str | None = "test") -> list[MbppProblem]:
    """The problems of `split` ("test": task_ids 11-510; None: all), ordered by task_id."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown MBPP split {split!r}; known: {', '.join(SPLITS)}")
    source = data_path(path)
    problems: list[MbppProblem] = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            task_id = int(row["task_id"])
            if split is not None and not SPLITS[split][0] <= task_id <= SPLITS[split][1]:
                continue
            tests = tuple(row["test_list"])
            problems.append(MbppProblem(
                task_id=task_id,
                text=row["text"],
                code=row["code"],
                test_setup_code=row.get("test_setup_code") or "",
                test_list=tests,
                challenge_test_list=tuple(row.get("challenge_test_list") or ()),
                entry_point=find_entry_point(row["code"], tests),
            ))
    problems.sort(key=lambda p: p.task_id)
    return problems
