"""The contract every runner of model-written code keeps: `Sandbox.run(program, limits) -> RunOutcome`.

`RunOutcome.completed` is True only when the program got to its end (the run's random token came
back, see `codefill.jobs.sandbox.bootstrap`); callers score a pass as `completed and returncode == 0`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

from codefill.jobs.process_groups import kill_group, wait_or_kill
from codefill.jobs.sandbox.bootstrap import BOOTSTRAP

log = logging.getLogger("codefill.sandbox")

STDERR_TAIL_CHARS = 2000
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
                "`sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`; scripts/setup.sh installs "
                "it where apt-get is available)")
USERNS_HINT = ("allow user namespaces (sysctl user.max_user_namespaces > 0; Debian's "
               "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0 "
               "or an AppArmor profile for bwrap; in Docker, a seccomp profile that allows unshare/clone of "
               "namespaces)")
UNSAFE_FLAG = "--unsafe-no-sandbox"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine (no bwrap, or no namespaces), and none was waived."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. The CPU-time limit is `timeout_s` + 1 s (rounded up)."""

    timeout_s: float = 10.0  # wall clock; then the sandbox and everything in it is killed
    memory_mb: int | None = 2048  # RLIMIT_AS and RLIMIT_DATA, per process
    file_mb: int | None = 16  # RLIMIT_FSIZE: the largest file it can write (its stderr included)
    tmp_mb: int = 64  # the size of its only writable folder (a tmpfs; its files live in memory)
    open_files: int | None = 256  # RLIMIT_NOFILE
    processes: int = 32  # RLIMIT_NPROC: its processes and threads together, counted in its own namespace
    new_processes: bool = False  # fork/vfork/posix_spawn allowed (seccomp); threads always are

    def cpu_s(self) -> int:
        return max(1, math.ceil(self.timeout_s)) + 1

    def rlimits(self, *, nproc: bool) -> dict[str, list[int]]:
        cpu = self.cpu_s()
        out = {"RLIMIT_CPU": [cpu, cpu + 1], "RLIMIT_CORE": [0, 0]}
        if self.memory_mb:
            size = self.memory_mb * 1024 * 1024
            out["RLIMIT_AS"] = out["RLIMIT_DATA"] = [size, size]
        if self.file_mb:
            size = self.file_mb * 1024 * 1024
            out["RLIMIT_FSIZE"] = [size, size]
        if self.open_files:
            out["RLIMIT_NOFILE"] = [self.open_files, self.open_files]
        if nproc and self.processes:
            out["RLIMIT_NPROC"] = [self.processes, self.processes]
        return out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunOutcome:
    returncode: int | None  # None when it was killed at the wall-clock limit
    timed_out: bool
    completed: bool  # the program ran to its end (its token came back)
    stderr_tail: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.completed and self.returncode == 0 and not self.timed_out

    @property
    def cpu_limited(self) -> bool:
        """Killed by the CPU-time limit (SIGXCPU at the soft limit, SIGKILL at the hard one)."""
        return self.returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU)


def wait_exactly(proc: subprocess.Popen, timeout_s: float) -> tuple[int | None, bool]:
    """(exit status, whether it ran out of time), learnt the moment the process ends (a pidfd, not
    `Popen.wait(timeout)`'s polling, which adds up to 50 ms to every run). Its process group is
    killed in any case, while the ended process still holds the group's id."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        return wait_or_kill(proc, timeout_s)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        ended = bool(poller.poll(max(0.0, timeout_s) * 1000))
    finally:
        os.close(pidfd)
    kill_group(proc)
    returncode = proc.wait()
    return (returncode, False) if ended else (None, True)


def _read_tail(f, chars: int) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - chars * 4))
    return f.read().decode("utf-8", errors="replace")[-chars:]


class Sandbox(ABC):
    """Runs a Python program (the text of one file) and says how it ended."""

    name: str = "sandbox"
    isolated: bool = True

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What it isolates, for reports (JSON-able)."""

    @abstractmethod
    def _command(self, program: str, result_fd: int, limits: Limits, stack) -> tuple[list[str], dict]:
        """The argv and Popen keyword arguments (cwd, env, pass_fds) of one run; `stack` is an
        ExitStack that closes what the run opened."""

    def run(self, program: str, limits: Limits = Limits(), *,
            stderr_tail_chars: int = STDERR_TAIL_CHARS) -> RunOutcome:
        from contextlib import ExitStack

        token = secrets.token_hex(16).encode()
        start = time.monotonic()
        with ExitStack() as stack:
            err = stack.enter_context(tempfile.TemporaryFile(prefix="codefill-sandbox-stderr-"))
            result = stack.enter_context(tempfile.TemporaryFile(prefix="codefill-sandbox-result-"))
            argv, popen = self._command(program, result.fileno(), limits, stack)
            read_end, write_end = os.pipe()
            try:
                os.write(write_end, token)  # 32 bytes: never blocks on an empty pipe
            finally:
                os.close(write_end)
            try:
                proc = subprocess.Popen(
                    argv, stdin=read_end, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                    close_fds=True, pass_fds=tuple(popen.pop("pass_fds", ())) + (result.fileno(),), **popen)
            finally:
                os.close(read_end)
            returncode, timed_out = wait_exactly(proc, limits.timeout_s)
            duration = time.monotonic() - start
            tail = _read_tail(err, stderr_tail_chars)
            result.seek(0)
            completed = result.read(4096).endswith(token)
        if timed_out:
            tail = (tail + f"\n[codefill sandbox] killed after {limits.timeout_s:g} s").lstrip("\n")
        elif returncode == 0 and not completed:
            tail = (tail + "\n[codefill sandbox] the program ended before its last statement "
                           "(exit status 0 without the end-of-run token): not a pass").lstrip("\n")
        return RunOutcome(returncode, timed_out, completed, tail, duration)


def bootstrap_argv(python: str, program_path: str, result_fd: int, limits: Limits, *, nproc: bool) -> list[str]:
    return [python, "-I", "-B", "-c", BOOTSTRAP, program_path, str(result_fd),
            json.dumps(limits.rlimits(nproc=nproc))]


CHILD_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
             "MKL_NUM_THREADS": "1"}


class UnsafeNoSandbox(Sandbox):
    """`--unsafe-no-sandbox`: a plain child process with the limits of old (CPU, memory, file size,
    open files), in a fresh temporary folder, in its own session (killed as a group at the end).
    Nothing is isolated: it can read and write what you can, reach the network and start processes.
    The end-of-run token still decides what a pass is."""

    name = "none"
    isolated = False

    def __init__(self, python: str | None = None, *, warn: bool = True):
        self.python = python or sys.executable
        if warn:
            log.warning("!" * 78)
            log.warning("WARNING: %s: model-written code runs WITHOUT a sandbox, with your user's access to "
                        "files, the network and processes.", UNSAFE_FLAG)
            log.warning("!" * 78)

    def describe(self) -> dict[str, Any]:
        return {"sandbox": self.name, "isolated": False,
                "description": f"no sandbox ({UNSAFE_FLAG}): a limited child process in a temporary folder; "
                               "files, network and processes are NOT isolated"}

    def _command(self, program, result_fd, limits, stack):
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="codefill-unsafe-"))
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(program)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TMPDIR": tmp, **CHILD_ENV}
        # RLIMIT_NPROC is left out: outside a namespace it counts every process of the user.
        return bootstrap_argv(self.python, path, result_fd, limits, nproc=False), {"cwd": tmp, "env": env}
