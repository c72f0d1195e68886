"""Ending a child process together with everything it started (its process group).

The children are started with `start_new_session=True`, so the group id is the child's pid.
"""

from __future__ import annotations

import os
import signal
import subprocess


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_or_kill(proc: subprocess.Popen, timeout_s: float) -> tuple[int | None, bool]:
    """(exit code, whether it ran out of time): the process group is killed at the limit, and in
    any case afterwards, so nothing the program started outlives it."""
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()
        return None, True
    finally:
        kill_group(proc)


def terminate_group(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM to the group (a server then shuts its engine down cleanly), SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait(10)
