"""Instruct (chat) benchmarks: HumanEval and MBPP solved from a chat model's reply.

A task is one problem as a chat model sees it (`instruct_prompts`) with what
turns a reply into a test program:

1. the code is taken out of the reply (`code_extraction.extract_code`: the
   first Python fenced block that defines the entry point, else ...);
2. HumanEval only: when that code does not define the entry point at top
   level (e.g. the model wrote only the body), the problem's prompt (signature
   + docstring) is put before it;
3. its top-level ``if __name__ == "__main__":`` blocks are dropped (demo code
   that would run before the tests);
4. the tests follow: HumanEval's `test` then ``check(entry_point)``; MBPP's
   `test_setup_code` then the asserts of `test_list` (see `mbpp`).

`evaluate_instruct` asks for `samples` replies per task (one request each, so
a failed request costs one sample, not the problem), runs every program in a
limited subprocess (`execution`), and returns per-task records; pass@k is the
unbiased estimator of `passk`. A request that fails counts as a sample that
did not pass. Nothing here prints; progress goes to a callback.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codefill.jobs.evaluation.code_extraction import defines, drop_main_guard, extract_code
from codefill.jobs.evaluation.execution import (
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_TIMEOUT_S,
    ExecutionResult,
    run_program_async,
)
from codefill.jobs.evaluation.humaneval import Problem
from codefill.jobs.evaluation.instruct_prompts import humaneval_prompt, mbpp_prompt
from codefill.jobs.evaluation.mbpp import MbppProblem
from codefill.jobs.evaluation.passk import mean_pass_at_k, pass_at_k

if TYPE_CHECKING:
    from codefill.jobs.sandbox import Sandbox

BENCHMARKS = ("humaneval", "mbpp")
STDERR_TAIL_IN_REPORT = 500


@dataclass(frozen=True)
class InstructTask:
    task_id: str  # "HumanEval/N" or "Mbpp/N"
    prompt: str  # the user message
    entry_point: str  # the function the tests call
    tests: str  # runs after the solution
    signature: str = ""  # put before code that does not define entry_point (HumanEval's prompt)

    def solution(self, reply: str) -> str:
        """The code of a reply, ready to be followed by the tests."""
        code = extract_code(reply, self.entry_point)
        if self.signature and not defines(code, self.entry_point):
            code = self.signature + code
        # after the signature is in place: a bare function body does not parse on its own
        return drop_main_guard(code)

    def program(self, solution: str) -> str:
        return f"{solution}\n\n{self.tests}"


def humaneval_task(problem: Problem) -> InstructTask:
    return InstructTask(
        task_id=problem.task_id,
        prompt=humaneval_prompt(problem.prompt),
        entry_point=problem.entry_point,
        tests=f"{problem.test}\n\ncheck({problem.entry_point})\n",
        signature=problem.prompt,
    )


def mbpp_task(problem: MbppProblem) -> InstructTask:
    return InstructTask(
        task_id=problem.name,
        prompt=mbpp_prompt(problem.text, problem.test_list),
        entry_point=problem.entry_point,
        tests=problem.test_program(),
    )


# --- evaluation --------------------------------------------------------------


@dataclass
class Reply:
    """What the server answered for one sample."""

    text: str
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None  # the request failed: the sample counts as not passed


Answerer = Callable[[InstructTask, int], Awaitable[Reply]]  # (task, sample index) -> reply


@dataclass
class Sample:
    index: int
    reply: Reply
    solution: str  # the code that ran before the tests ("" when the request failed)
    execution: ExecutionResult | None  # None when the request failed

    @property
    def status(self) -> str:
        return "error" if self.execution is None else self.execution.status

    @property
    def passed(self) -> bool:
        return self.execution is not None and self.execution.passed

    def to_dict(self) -> dict:
        r, ex = self.reply, self.execution
        return {
            "sample": self.index,
            "status": self.status,
            "passed": self.passed,
            "error": r.error,
            "finish_reason": r.finish_reason,
            "latency_s": None if r.latency_s is None else round(r.latency_s, 4),
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "returncode": None if ex is None else ex.returncode,
            "stderr_tail": None if ex is None else ex.stderr_tail[-STDERR_TAIL_IN_REPORT:],
            "exec_s": None if ex is None else round(ex.duration_s, 4),
            "reply": r.text,
            "solution": self.solution,
        }


@dataclass
class TaskRecord:
    index: int  # position in the evaluated task list
    task: InstructTask
    samples: list[Sample]  # in sample order

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def c(self) -> int:
        return sum(s.passed for s in self.samples)

    def to_dict(self, ks: Sequence[int]) -> dict:
        return {
            "task_id": self.task.task_id,
            "entry_point": self.task.entry_point,
            "n": self.n,
            "c": self.c,
            "pass_at_k": {f"pass@{k}": pass_at_k(self.n, self.c, k) for k in ks if k <= self.n},
            "statuses": [s.status for s in self.samples],
            "completions": [s.to_dict() for s in self.samples],
        }


@dataclass
class Progress:
    done: int  # samples finished (request and tests)
    total: int
    passed: int = 0
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def pass_at_1(self) -> float:
        """Passed samples over finished ones: pass@1 so far."""
        return self.passed / self.done if self.done else 0.0


ProgressCallback = Callable[[Progress, Sample], None]


async def _ask(answer: Answerer, task: InstructTask, index: int) -> Reply:
    try:
        return await answer(task, index)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed request is a result, not a crash
        return Reply(text="", error=f"{type(exc).__name__}: {exc}")


async def evaluate_instruct(
    tasks: Sequence[InstructTask],
    answer: Answerer,
    *,
    samples: int = 1,
    concurrency: int = 1,
    exec_timeout_s: float = DEFAULT_TIMEOUT_S,
    exec_workers: int = 2,
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    progress: ProgressCallback | None = None,
    sandbox: Sandbox | None = None,
) -> list[TaskRecord]:
    """Ask `samples` replies for every task, test each, return records in task order.

    `concurrency` workers take (task, sample) pairs in task-major order; a worker
    sends its request, then runs the program (at most `exec_workers` programs at a
    time, in threads). `progress` is called after every sample. The programs run in
    `sandbox` (default: `codefill.jobs.sandbox.get_sandbox()`, checked before any request)."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if sandbox is None:
        from codefill.jobs.sandbox import get_sandbox

        sandbox = get_sandbox()
    jobs: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for t in range(len(tasks)):
        for s in range(samples):
            jobs.put_nowait((t, s))
    total = jobs.qsize()
    results: list[list[Sample | None]] = [[None] * samples for _ in tasks]
    prog = Progress(done=0, total=total)
    exec_sem = asyncio.Semaphore(max(1, exec_workers))
    start = time.monotonic()

    async def run_one(task: InstructTask, index: int) -> Sample:
        reply = await _ask(answer, task, index)
        if reply.error is not None:
            return Sample(index, reply, "", None)
        solution = task.solution(reply.text)
        async with exec_sem:
            execution = await run_program_async(task.program(solution), timeout_s=exec_timeout_s,
                                                memory_limit_mb=memory_limit_mb, sandbox=sandbox)
        return Sample(index, reply, solution, execution)

    async def worker() -> None:
        while True:
            try:
                t, s = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            sample = await run_one(tasks[t], s)
            results[t][s] = sample
            prog.done += 1
            prog.passed += sample.passed
            prog.errors += sample.reply.error is not None
            prog.elapsed_s = time.monotonic() - start
            if progress is not None:
                progress(prog, sample)

    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, min(concurrency, total or 1))):
            tg.create_task(worker())
    return [TaskRecord(i, task, [s for s in results[i] if s is not None]) for i, task in enumerate(tasks)]


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Summary:
    problems: int
    samples_per_problem: int
    completions: int
    passed: int
    pass_at_k: dict[str, float] = field(default_factory=dict)  # "pass@k" -> mean estimate
    problems_solved: int = 0  # problems with at least one passing sample
    errors: int = 0
    failed: int = 0
    timeouts: int = 0
    truncated: int = 0  # replies that stopped at max_tokens (finish_reason "length")
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    completion_tokens_mean: float | None = None
    finish_reasons: dict[str, int] = field(default_factory=dict)


def summarize(records: Sequence[TaskRecord], ks: Sequence[int], samples: int) -> Summary:
    """pass@k for each k in `ks` (mean over problems), with counts and latencies."""
    all_samples = [s for r in records for s in r.samples]
    latencies = [s.reply.latency_s for s in all_samples if s.reply.latency_s is not None]
    tokens = [s.reply.completion_tokens for s in all_samples if s.reply.completion_tokens is not None]
    reasons = Counter(s.reply.finish_reason or "none" for s in all_samples if s.reply.error is None)
    statuses = Counter(s.status for s in all_samples)
    counts = [(r.n, r.c) for r in records]
    return Summary(
        problems=len(records),
        samples_per_problem=samples,
        completions=len(all_samples),
        passed=statuses["passed"],
        pass_at_k={f"pass@{k}": mean_pass_at_k(counts, k) for k in ks},
        problems_solved=sum(r.c > 0 for r in records),
        errors=statuses["error"],
        failed=statuses["failed"],
        timeouts=statuses["timeout"],
        truncated=reasons.get("length", 0),
        latency_p50_s=_percentile(latencies, 50),
        latency_p95_s=_percentile(latencies, 95),
        completion_tokens_mean=sum(tokens) / len(tokens) if tokens else None,
        finish_reasons=dict(sorted(reasons.items())),
    )
