"""Run a candidate program against HumanEval's tests in the sandbox of model-written code.

The program is `prefix + completion + suffix + "\\n" + test + "\\ncheck(entry_point)\\n"`.
It runs in `codefill.jobs.sandbox` (bubblewrap: its own user, mount, pid, network, ipc and uts
namespaces, uid 65534, a read-only system, a private tmpfs as its only writable folder, no
network, a seccomp filter, and limits on CPU time, memory, file size and processes), with stdin
closed, stdout discarded and stderr's tail returned. When bubblewrap is missing or cannot make
its namespaces, `codefill.jobs.sandbox.SandboxUnavailable` says how to install it; a caller that passes
`sandbox=UnsafeNoSandbox()` (the CLIs' `--unsafe-no-sandbox`) runs it without isolation.

A pass is a pass: exit status 0 AND the program got to its end (the run's random token came
back after its last statement), so `sys.exit(0)` or `os._exit(0)` before the checks fails.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from codefill.jobs.sandbox.base import STDERR_TAIL_CHARS, Limits

if TYPE_CHECKING:
    from codefill.jobs.sandbox import Sandbox

Status = Literal["passed", "failed", "timeout"]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT_MB = 2048
DEFAULT_FILE_LIMIT_MB = 16


@dataclass(frozen=True)
class ExecutionResult:
    status: Status
    returncode: int | None  # None when killed on timeout
    stderr_tail: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExecutionResult:
        return cls(status=data["status"], returncode=data["returncode"], stderr_tail=data["stderr_tail"],
                   duration_s=data["duration_s"])


def build_program(prefix: str, completion: str, suffix: str, test: str, entry_point: str) -> str:
    """The text that is run: the filled-in code, then the tests, then the check call."""
    return prefix + completion + suffix + "\n" + test + f"\ncheck({entry_point})\n"


def run_program(
    program: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    file_limit_mb: int | None = DEFAULT_FILE_LIMIT_MB,
    python: str | None = None,
    stderr_tail_chars: int = STDERR_TAIL_CHARS,
    sandbox: Sandbox | None = None,
) -> ExecutionResult:
    """Run `program`; "passed" iff it exits 0 within `timeout_s` wall-clock seconds AND reaches its end.

    A non-zero exit (an assertion, a syntax error, a crash, a signal), or an exit before the end
    (`exit(0)` before the checks) is "failed"; running past the wall-clock limit, or being killed by
    the CPU-time limit (SIGXCPU/SIGKILL after `RLIMIT_CPU`), is "timeout". `sandbox` defaults to
    `codefill.jobs.sandbox.get_sandbox(python=python)` (bubblewrap, or `SandboxUnavailable`).
    """
    if sandbox is None:
        from codefill.jobs.sandbox import get_sandbox

        sandbox = get_sandbox(python=python)
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_limit_mb, file_mb=file_limit_mb)
    outcome = sandbox.run(program, limits, stderr_tail_chars=stderr_tail_chars)
    if outcome.timed_out or outcome.cpu_limited or outcome.returncode == -signal.SIGXCPU:
        status: Status = "timeout"
    elif outcome.passed:
        status = "passed"
    else:
        status = "failed"
    return ExecutionResult(status=status, returncode=outcome.returncode, stderr_tail=outcome.stderr_tail,
                           duration_s=outcome.duration_s)


async def run_program_async(program: str, **kwargs) -> ExecutionResult:
    """`run_program` in a worker thread, for use inside an event loop."""
    return await asyncio.to_thread(run_program, program, **kwargs)
