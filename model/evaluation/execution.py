"""Run a candidate program against HumanEval's tests in a separate Python process.

The program is `prefix + completion + suffix + "\\n" + test + "\\ncheck(entry_point)\\n"`.
It runs as `python -I program.py` (isolated mode: no PYTHON* variables, no user
site-packages, no script directory on sys.path) in a fresh temporary directory
(also its HOME and TMPDIR), in its own session so that a timeout kills every
process it started, with stdin closed, stdout discarded and stderr kept in a
file (its tail is returned). Resource limits are set in the child before it
starts (`preexec_fn`): address space, CPU seconds, size of files written, no
core dumps.

This is a guard against accidents (an infinite loop, a huge allocation, a
stray file), not a sandbox against hostile code: run untrusted models' output
in a container.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Literal

from model.process_groups import wait_or_kill

Status = Literal["passed", "failed", "timeout"]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT_MB = 2048
DEFAULT_FILE_LIMIT_MB = 16
STDERR_TAIL_CHARS = 2000


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


def _limits(timeout_s: float, memory_limit_mb: int | None, file_limit_mb: int | None):
    import resource

    cpu = max(1, math.ceil(timeout_s)) + 1

    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_limit_mb:
            size = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        if file_limit_mb:
            size = file_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def _tail(path: str, chars: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - chars * 4))
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-chars:]


def run_program(
    program: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    file_limit_mb: int | None = DEFAULT_FILE_LIMIT_MB,
    python: str | None = None,
    stderr_tail_chars: int = STDERR_TAIL_CHARS,
) -> ExecutionResult:
    """Run `program`; "passed" iff it exits 0 within `timeout_s` wall-clock seconds.

    A non-zero exit (an assertion, a syntax error, a crash, a signal) is
    "failed"; running past the wall-clock limit, or being killed by the CPU-time
    limit (SIGXCPU/SIGKILL after `RLIMIT_CPU`), is "timeout".
    """
    python = python or sys.executable
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="codefill-exec-") as tmp:
        script = os.path.join(tmp, "program.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(program)
        stderr_path = os.path.join(tmp, ".stderr")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
        }
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [python, "-I", script],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                preexec_fn=_limits(timeout_s, memory_limit_mb, file_limit_mb),
                close_fds=True,
            )
            returncode, timed_out = wait_or_kill(proc, timeout_s)
        duration = time.monotonic() - start
        tail = _tail(stderr_path, stderr_tail_chars)
    if timed_out or returncode == -signal.SIGXCPU:
        status: Status = "timeout"
        if timed_out:
            tail = (tail + f"\n[codefill] killed after {timeout_s:g} s").lstrip("\n")
    elif returncode == 0:
        status = "passed"
    else:
        status = "failed"
    return ExecutionResult(status=status, returncode=returncode, stderr_tail=tail, duration_s=duration)


async def run_program_async(program: str, **kwargs) -> ExecutionResult:
    """`run_program` in a worker thread, for use inside an event loop."""
    return await asyncio.to_thread(run_program, program, **kwargs)
