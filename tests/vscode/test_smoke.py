"""Playwright smoke test: a person's path through the packaged extension in a real VS Code.
Types in the editor, waits for the ghost text, accepts it with Tab, saves, and checks the file
on disk; screenshots go to $CODEFILL_ARTIFACTS (default tests/vscode/artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.vscode import harness

TYPED = "    return"


def _prepare_workspace(base: Path, url: str) -> Path:
    workspace = base / "workspace"
    (workspace / ".vscode").mkdir(parents=True)
    (workspace / ".vscode" / "settings.json").write_text(json.dumps({
        "codefill.url": url, "codefill.maxTokens": 16, "codefill.debounceMs": 50,
        "codefill.timeoutMs": 30000}, indent=2))
    (workspace / ".venv" / "bin").mkdir(parents=True)
    (workspace / ".venv" / "bin" / "codefill").symlink_to(harness.CODEFILL)
    (workspace / "greet.py").write_text("def greet(name):\n")
    return workspace


def test_ghost_text_accepted_with_tab(vscode_installed, tiny_serve, tmp_path):
    from playwright.sync_api import sync_playwright

    vsix = harness.package_extension()
    workspace = _prepare_workspace(tmp_path, tiny_serve)
    harness.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = harness.CodeServer(tmp_path / "code-server")
    server.install(vsix)
    server.start()
    try:
        with sync_playwright() as p:
            browser = harness.launch_chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                try:
                    harness.open_and_type(page, server.workbench_url(workspace), "greet.py", "def greet", TYPED,
                                          delay_ms=30)
                    ghost = harness.ghost_text(page).replace("\u00a0", " ")
                    assert ghost.strip(), "the ghost text is empty"
                    page.screenshot(path=str(harness.ARTIFACTS / "smoke-ghost-text.png"))
                    page.keyboard.press("Tab")
                    page.wait_for_selector(harness.GHOST, state="detached", timeout=10_000)
                    page.keyboard.press("Control+S")
                    expected_start = "def greet(name):\n" + TYPED + ghost
                    text = harness.wait_until(
                        lambda: (t := (workspace / "greet.py").read_text()).startswith(expected_start) and t,
                        30, f"the accepted text {expected_start!r} saved to disk")
                    page.screenshot(path=str(harness.ARTIFACTS / "smoke-accepted.png"))
                except Exception:
                    page.screenshot(path=str(harness.ARTIFACTS / "smoke-failure.png"))
                    raise
            finally:
                browser.close()
    finally:
        server.stop()
    assert text.startswith(expected_start), (text, expected_start)
    assert len(text) > len("def greet(name):\n" + TYPED)
