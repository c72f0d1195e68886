"""Fixtures of the VS Code extension's tests: a real `codefill serve` on the tiny model, a fake
completion server, and the built extension. Without scripts/setup_vscode.sh's install the
tests skip, except in CI (CI=true), where they fail."""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.servers import ServerProcess, free_port
from tests.vscode import harness
from tests.vscode.fake_server import FakeCompletionServer

CODEFILL = harness.CODEFILL


@pytest.fixture(scope="session")
def vscode_installed() -> None:
    why = harness.missing_reason()
    if why is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{why}; CI runs scripts/setup_vscode.sh first")
        pytest.skip(why)
    harness.build_extension()


@pytest.fixture(scope="session")
def tiny_serve(tiny_model_path):
    """`codefill serve` on the tiny random model (transformers engine: the quickest to start)."""
    server = ServerProcess("--model", tiny_model_path, "--engine", "hf", "--max-model-len", "2048",
                           "--served-model-name", "tiny", ready_timeout=300)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fake_completion_server():
    with FakeCompletionServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def dead_url() -> str:
    """A loopback port with nothing listening (bound and closed: free for a while)."""
    return f"http://127.0.0.1:{free_port()}"


def wait_for_exit(page, codes: list, timeout: float, what: str) -> int:
    """Waits, handling the page's events, until VS Code reports its exit code."""
    deadline = time.monotonic() + timeout
    while not codes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: no exit code within {timeout:.0f} s")
        page.wait_for_timeout(250)  # lets Playwright dispatch the exposed function's calls
    return codes[0]
