"""Run a response's implementation and tests in the sandbox of model-written code (`codefill.jobs.sandbox`).

The sandbox is the same as `codefill eval`'s: bubblewrap with its own user, mount, pid, network,
ipc and uts namespaces, uid 65534 (also on the host when codefill runs as root), a read-only view
of the system and of the Python that runs the tests, a private tmpfs as its only writable folder
(its cwd, HOME and TMPDIR), no network, no new processes, a seccomp filter, and limits on CPU
time, memory, file size, open files and threads. Where it cannot be made, `run_instruct` refuses
with `SandboxUnavailable` (how to install bubblewrap), unless `--unsafe-no-sandbox`.

This module keeps the statuses `data instruct` reports:

- `passed`: exit status 0 and the program reached its end (the run's token came back: an early
  `exit(0)` is not a pass);
- `timeout`: past the wall-clock limit, or killed by the CPU-time limit;
- `memory`: failed with a MemoryError (the address-space limit);
- `failed`: anything else. What the sandbox refuses (a write outside, a connection, a process)
  is an error the program sees, so it fails like any other error;
- `blocked`: kept so that reports keep their columns; the bubblewrap sandbox never gives it
  (it was the old in-process audit hook's).
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from codefill.jobs.evaluation.execution import ExecutionResult
from codefill.jobs.sandbox.base import STDERR_TAIL_CHARS, Limits

if TYPE_CHECKING:
    from codefill.jobs.sandbox import Sandbox

Status = Literal["passed", "failed", "timeout", "memory", "blocked"]
STATUSES: tuple[str, ...] = ("passed", "failed", "timeout", "memory", "blocked")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024
DEFAULT_FILE_MB = 16
DEFAULT_OPEN_FILES = 256
PROGRAM_NAME = "program.py"


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = DEFAULT_TIMEOUT_S  # wall clock; the CPU limit is this + 1 s
    memory_mb: int | None = DEFAULT_MEMORY_MB  # RLIMIT_AS and RLIMIT_DATA
    file_mb: int | None = DEFAULT_FILE_MB  # RLIMIT_FSIZE
    open_files: int | None = DEFAULT_OPEN_FILES  # RLIMIT_NOFILE

    def to_dict(self) -> dict:
        return asdict(self)

    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb, file_mb=self.file_mb,
                      open_files=self.open_files)


# What one run gives: the same shape as a benchmark program's run (status, exit code, stderr's tail, time).
SandboxResult = ExecutionResult


def classify(returncode: int | None, timed_out: bool, stderr_tail: str, completed: bool = True) -> Status:
    if timed_out or returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if returncode == 0 and completed:
        return "passed"
    if "MemoryError" in stderr_tail:
        return "memory"
    return "failed"


def run_sandboxed(
    program: str,
    *,
    limits: SandboxLimits = SandboxLimits(),
    sandbox: Sandbox | None = None,
    python: str | None = None,
    stderr_tail_chars: int = STDERR_TAIL_CHARS,
) -> SandboxResult:
    """Run `program` in the sandbox; "passed" iff it exits 0 after its last statement, within the limits.

    `sandbox` defaults to `codefill.jobs.sandbox.get_sandbox(python=python)` (bubblewrap, or
    `SandboxUnavailable`)."""
    if sandbox is None:
        from codefill.jobs.sandbox import get_sandbox

        sandbox = get_sandbox(python=python)
    outcome = sandbox.run(program, limits.limits(), stderr_tail_chars=stderr_tail_chars)
    status = classify(outcome.returncode, outcome.timed_out, outcome.stderr_tail, outcome.completed)
    return SandboxResult(status=status, returncode=outcome.returncode, stderr_tail=outcome.stderr_tail,
                         duration_s=outcome.duration_s)
