"""Self-validation: each response's implementation runs with its own tests in the sandbox.

A response counts as:

- `no_code` / `no_tests`: no implementation or no tests could be read from it
  (nothing is run);
- `no_assertions`: its tests check nothing (no assert), so they would pass
  whatever the code does (nothing is run);
- the sandbox's status otherwise: `passed`, `failed`, `timeout`, `memory`,
  `blocked` (it tried the network, a write outside its folder, a process, ...).

Per instruction, the first passing response (lowest index) is kept; the others
are dropped. Pass rates are reported per response (passed / run) and per
instruction (instructions with a kept response / instructions).

Results are cached in an append-only JSONL file keyed by the program's hash and
the sandbox's settings, so a rerun does not run the same program again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.instruct.prompts import ParsedResponse, parse_response
from model.instruct.sandbox import STATUSES, Isolation, SandboxLimits, SandboxResult, run_sandboxed

OUTCOMES: tuple[str, ...] = ("no_code", "no_tests", "no_assertions", *STATUSES)


@dataclass(frozen=True)
class Candidate:
    instruction_id: str
    index: int  # which of the k responses
    text: str  # the model's answer


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


def execution_key(program: str, limits: SandboxLimits, isolation: Isolation) -> str:
    settings = json.dumps({"limits": limits.to_dict(), "network": isolation.network}, sort_keys=True)
    return hashlib.sha256((settings + "\0" + program).encode("utf-8", "surrogatepass")).hexdigest()


def validate(
    candidates: Sequence[Candidate],
    *,
    limits: SandboxLimits,
    isolation: Isolation,
    store: ExecutionStore | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[list[Outcome], dict[str, Outcome], ValidationStats]:
    """Every candidate's outcome (in order), the kept response per instruction id, and the counts."""
    outcomes: list[Outcome] = []
    to_run: dict[str, list[int]] = {}  # execution key -> indexes into outcomes
    programs: dict[str, str] = {}
    stats = ValidationStats(responses=len(candidates))
    for c in candidates:
        parsed, why = parse_response(c.text)
        outcome = Outcome(c.instruction_id, c.index, why if parsed is None else "pending", parsed)
        outcomes.append(outcome)
        if parsed is None:
            continue
        program = parsed.program()
        key = execution_key(program, limits, isolation)
        cached = store.get(key) if store is not None else None
        if cached is not None:
            outcome.result, outcome.outcome = cached, cached.status
            stats.executions_cached += 1
            continue
        to_run.setdefault(key, []).append(len(outcomes) - 1)
        programs[key] = program

    if to_run:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(to_run), desc="running tests", unit="program", file=sys.stderr, leave=False)
        workers = max(1, workers or os.cpu_count() or 1)
        try:
            with ThreadPoolExecutor(max_workers=min(workers, len(to_run))) as pool:
                futures = {pool.submit(run_sandboxed, programs[k], limits=limits, isolation=isolation): k
                           for k in to_run}
                for future in as_completed(futures):
                    key = futures[future]
                    result = future.result()
                    if store is not None:
                        store.put(key, result)
                    for i in to_run[key]:
                        outcomes[i].result, outcomes[i].outcome = result, result.status
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    kept: dict[str, Outcome] = {}
    seen: set[str] = set()
    for o in outcomes:
        stats.outcomes[o.outcome] += 1
        if o.result is not None:
            stats.run += 1
        seen.add(o.instruction_id)
        if o.outcome == "passed":
            best = kept.get(o.instruction_id)
            if best is None or o.index < best.index:
                kept[o.instruction_id] = o
    stats.instructions = len(seen)
    stats.instructions_kept = len(kept)
    return outcomes, kept, stats
