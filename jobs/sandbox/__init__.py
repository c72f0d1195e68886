"""The one sandbox for model-written code (`codefill eval humaneval/mbpp/humaneval-infill`,
`codefill data instruct`, anything later).

    sandbox = get_sandbox()                  # bubblewrap, checked once; SandboxUnavailable if it cannot be made
    outcome = sandbox.run(program, Limits(timeout_s=10, memory_mb=1024))
    outcome.passed                           # exit status 0 AND the program reached its end

- `base`: the contract (`Sandbox`, `Limits`, `RunOutcome`, `SandboxUnavailable`) and
  `UnsafeNoSandbox`, the explicit `--unsafe-no-sandbox` opt-out;
- `bubblewrap`: the implementation (namespaces, uid 65534, read-only system, tmpfs, no network);
- `seccomp`: its hand-written BPF filter;
- `bootstrap`: what runs in the child before the program (limits, the end-of-run token).

What is isolated and how it is tested: README.md ("What model-written code can do") and
tests/unit/test_sandbox_escapes.py.
"""

from __future__ import annotations

import logging

from codefill.jobs.sandbox.base import (
    INSTALL_HINT,
    STDERR_TAIL_CHARS,
    UNSAFE_FLAG,
    Limits,
    RunOutcome,
    Sandbox,
    SandboxUnavailable,
    UnsafeNoSandbox,
)
from codefill.jobs.sandbox.bubblewrap import BubblewrapSandbox, checked_sandbox

log = logging.getLogger("codefill.sandbox")


def get_sandbox(*, unsafe_no_sandbox: bool = False, python: str | None = None) -> Sandbox:
    """The sandbox to run model-written code in.

    bubblewrap, checked once per process; `SandboxUnavailable` (which says how to install or
    enable it) when it cannot be made. `unsafe_no_sandbox` (the CLIs' `--unsafe-no-sandbox`) runs
    without isolation instead, with a loud warning, whether or not bubblewrap would work.
    """
    if unsafe_no_sandbox:
        return UnsafeNoSandbox(python)
    return checked_sandbox(python)


def sandbox_unavailable_reason(python: str | None = None) -> str | None:
    """None when the bubblewrap sandbox works here; else why not (for tests and diagnostics)."""
    try:
        checked_sandbox(python)
    except SandboxUnavailable as exc:
        return str(exc)
    return None


__all__ = [
    "BubblewrapSandbox", "INSTALL_HINT", "Limits", "RunOutcome", "STDERR_TAIL_CHARS", "Sandbox", "SandboxUnavailable",
    "UNSAFE_FLAG", "UnsafeNoSandbox", "checked_sandbox", "get_sandbox", "sandbox_unavailable_reason",
]
