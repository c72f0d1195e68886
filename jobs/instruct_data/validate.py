"""Self-validation: each response's implementation runs with its own tests in the sandbox.

A response counts as:

- `no_code` / `no_tests`: no implementation or no tests could be read from it
  (nothing is run);
- `no_assertions`: its tests check nothing (no assert), so they would pass
  whatever the code does (nothing is run);
- `copies_instruction`: its implementation is code the instruction already
  holds, with next to nothing of its own (nothing is run): trained on, such
  answers teach the model to echo the question's code back (the rich run's
  adapter did just that on HumanEval);
- `copies_example`: the same against the prompt's worked examples: the answer
  is an example's code, not an answer to its instruction;
- `off_task`: the instruction names a function or class (its first
  backticked name) and the implementation defines nothing by that name, or
  defines it with an empty body (`pass`, `...`, a docstring);
- the sandbox's status otherwise: `passed`, `failed`, `timeout`, `memory`
  (see `codefill.jobs.instruct_data.sandbox`; `blocked` is kept as a column and no longer given);
- `pruned` (only with `prune_tests`): it failed, and passes with the checks it
  failed left out (`codefill.jobs.instruct_data.pruned_tests`).

Per instruction, the first passing response (lowest index) is kept, or failing
that the first pruned one; the others are dropped. Pass rates are reported per response (passed / run) and per
instruction (instructions with a kept response / instructions).

Results are cached in an append-only JSONL file keyed by the program's hash and
the sandbox's settings, so a rerun does not run the same program again.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codefill.jobs.instruct_data import pruned_tests
from codefill.jobs.instruct_data.distinct_tasks import task_name
from codefill.jobs.instruct_data.prompts import example_code
from codefill.jobs.instruct_data.responses import ParsedResponse, parse_response, with_tests_replaced
from codefill.jobs.instruct_data.sandbox import STATUSES, SandboxLimits, SandboxResult, run_sandboxed
from codefill.jobs.sandbox import Sandbox

OUTCOMES: tuple[str, ...] = ("no_code", "no_tests", "no_assertions", "copies_instruction", "copies_example",
                             "off_task", *STATUSES, "pruned")


_EXAMPLE_CODE = example_code()


@dataclass(frozen=True)
class Candidate:
    instruction_id: str
    index: int  # which of the k responses
    text: str  # the model's answer
    instruction: str = ""  # what it answers


@dataclass
class Outcome:
    instruction_id: str
    index: int
    outcome: str  # one of OUTCOMES
    response: ParsedResponse | None
    result: SandboxResult | None = None


@dataclass
class ValidationStats:
    responses: int = 0
    run: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    instructions: int = 0
    instructions_kept: int = 0
    executions_cached: int = 0
    imports_added: int = 0  # answers run with imports they forgot (see codefill.jobs.instruct_data.missing_imports)
    checks_dropped: int = 0  # failing checks left out of the `pruned` answers

    @property
    def response_pass_rate(self) -> float:
        return self.outcomes["passed"] / self.run if self.run else 0.0

    @property
    def instruction_pass_rate(self) -> float:
        return self.instructions_kept / self.instructions if self.instructions else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "response_pass_rate": round(self.response_pass_rate, 4),
                "instruction_pass_rate": round(self.instruction_pass_rate, 4)}


class ExecutionStore:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._results: dict[str, SandboxResult] = {}
        if self.path.is_file():
            with open(self.path, "rb") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        self._results[row["key"]] = SandboxResult.from_dict(row["result"])
                    except (ValueError, KeyError, TypeError):
                        continue
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> SandboxResult | None:
        return self._results.get(key)

    def put(self, key: str, result: SandboxResult) -> None:
        torn = self.path.is_file() and self.path.stat().st_size > 0 and not self._ends_with_newline()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + json.dumps({"key": key, "result": result.to_dict()}) + "\n")
        self._results[key] = result

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"


def answer_problem(response: ParsedResponse, instruction: str) -> str:
    """"ok", or why the answer is not worth running: copies_instruction, copies_example or off_task."""
    if copies_instruction(response.code, instruction, skip=response.imports_added):
        return "copies_instruction"
    if copies_instruction(response.code, _EXAMPLE_CODE, skip=response.imports_added):
        return "copies_example"
    name = task_name(instruction)
    if name is not None and not defines_for_real(response.code, name):
        return "off_task"
    return "ok"


def defines_for_real(code: str, name: str) -> bool:
    """Whether `code` defines a function, method or class called `name` (case-blind) with a body that
    does something. Code that does not parse is given the benefit of the doubt (the sandbox decides)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.lower() == name:
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            if any(not (isinstance(b, ast.Pass) or (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)))
                   for b in body):
                return True
    return False


def copies_instruction(code: str, instruction: str, *, skip: Sequence[str] = ()) -> bool:
    """Whether the implementation repeats code from the instruction and adds almost nothing:
    at least 3 of its lines are in the instruction and fewer than max(2, a quarter of them) are
    not. Lines are compared stripped; blank lines, comments and the `skip` lines are left out."""
    given = {line.strip() for line in instruction.splitlines()}
    lines = [line.strip() for line in code.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#") and line not in skip]
    copied = sum(line in given for line in lines)
    return copied >= 3 and len(lines) - copied < max(2, len(lines) / 4)


def execution_key(program: str, limits: SandboxLimits, sandbox: Sandbox) -> str:
    # The sandbox's name is part of the key: results from another sandbox (or none) are not reused.
    settings = json.dumps({"limits": limits.to_dict(), "sandbox": sandbox.name}, sort_keys=True)
    return hashlib.sha256((settings + "\0" + program).encode("utf-8", "surrogatepass")).hexdigest()


def validate(
    candidates: Sequence[Candidate],
    *,
    limits: SandboxLimits,
    sandbox: Sandbox,
    store: ExecutionStore | None = None,
    workers: int | None = None,
    progress: bool = False,
    prune_tests: bool = False,
) -> tuple[list[Outcome], dict[str, Outcome], ValidationStats]:
    """Every candidate's outcome (in order), the kept response per instruction id, and the counts.
    With `prune_tests`, failed answers get a second chance (see `codefill.jobs.instruct_data.pruned_tests`)."""
    outcomes: list[Outcome] = []
    stats = ValidationStats(responses=len(candidates))
    runner = _Runner(limits, sandbox, store, workers, progress, stats)
    programs: list[str | None] = []
    for c in candidates:
        parsed, why = parse_response(c.text)
        if parsed is not None:
            why = answer_problem(parsed, c.instruction)
            parsed = parsed if why == "ok" else None
        outcomes.append(Outcome(c.instruction_id, c.index, why if parsed is None else "pending", parsed))
        programs.append(parsed.program() if parsed is not None else None)
        stats.imports_added += bool(parsed is not None and parsed.imports_added)
    results = runner.run([p for p in programs if p is not None], "running tests")
    for o, p in zip(outcomes, programs):
        if p is not None:
            o.result = results[p]
            o.outcome = o.result.status
    if prune_tests:
        _prune(outcomes, runner, stats)

    kept: dict[str, Outcome] = {}
    seen: set[str] = set()
    for o in outcomes:
        stats.outcomes[o.outcome] += 1
        if o.result is not None:
            stats.run += 1
        seen.add(o.instruction_id)
        if o.outcome in ("passed", "pruned"):
            best = kept.get(o.instruction_id)
            if best is None or (o.outcome != "passed", o.index) < (best.outcome != "passed", best.index):
                kept[o.instruction_id] = o
    stats.instructions = len(seen)
    stats.instructions_kept = len(kept)
    return outcomes, kept, stats


def _prune(outcomes: list[Outcome], runner: _Runner, stats: ValidationStats) -> None:
    """Failed answers: each check on its own, then the passing checks together (see `pruned_tests`)."""
    plans = []
    for o in outcomes:
        if o.outcome != "failed" or o.response is None:
            continue
        statements = pruned_tests.split_statements(o.response.tests)
        if statements is None or sum(s.check for s in statements) < pruned_tests.MIN_CHECKS:
            continue
        plans.append((o, statements, pruned_tests.check_programs(o.response.code, statements)))
    results = runner.run([p for _, _, checks in plans for p in checks], "running checks one by one")
    finals = []
    for o, statements, checks in plans:
        passed = [results[p].status == "passed" for p in checks]
        kept = pruned_tests.pruned(statements, passed)
        response = None if kept is None else with_tests_replaced(o.response, "\n".join(s.source for s in kept))
        if response is not None:
            finals.append((o, response, passed.count(False)))
    results = runner.run([r.program() for _, r, _ in finals], "running pruned tests")
    for o, response, dropped in finals:
        result = results[response.program()]
        if result.status == "passed":
            o.outcome, o.response, o.result = "pruned", response, result
            stats.checks_dropped += dropped


class _Runner:
    """Runs programs in the sandbox, each distinct one once, from the store where it has them."""

    def __init__(self, limits: SandboxLimits, sandbox: Sandbox, store: ExecutionStore | None,
                 workers: int | None, progress: bool, stats: ValidationStats):
        self.limits, self.sandbox, self.store, self.progress, self.stats = limits, sandbox, store, progress, stats
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, programs: Sequence[str], desc: str) -> dict[str, SandboxResult]:
        results: dict[str, SandboxResult] = {}
        todo: dict[str, str] = {}  # execution key -> program
        for program in programs:
            if program in results or program in todo.values():
                continue
            key = execution_key(program, self.limits, self.sandbox)
            cached = self.store.get(key) if self.store is not None else None
            if cached is not None:
                results[program] = cached
            else:
                todo[key] = program
        self.stats.executions_cached += sum(p in results for p in programs)  # every run the store answered
        if not todo:
            return results
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=desc, unit="program", file=sys.stderr, leave=False)
        try:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
                futures = {pool.submit(run_sandboxed, program, limits=self.limits, sandbox=self.sandbox): key
                           for key, program in todo.items()}
                for future in as_completed(futures):
                    key = futures[future]
                    result = future.result()
                    if self.store is not None:
                        self.store.put(key, result)
                    results[todo[key]] = result
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return results
