"""The extension's assertions inside a real VS Code (code-server): suite/tests.js runs in the
extension host against the real `codefill lsp` and `codefill serve` (tiny model) and a fake
server's edge cases. The suite runs once; each of its cases is reported as a test here."""

from __future__ import annotations

import json
import re

import pytest

from tests.vscode import harness
from tests.vscode.conftest import wait_for_exit
from tests.vscode.fake_server import KEY

CASES = re.findall(r"""^    name: ['"](.+)['"],$""", (harness.SUITE / "tests.js").read_text(), flags=re.M)
SUITE_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def suite_run(vscode_installed, tiny_serve, fake_completion_server, dead_url, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    base = tmp_path_factory.mktemp("vscode-suite")
    workspace = base / "workspace"
    (workspace / ".vscode").mkdir(parents=True)
    (workspace / ".vscode" / "settings.json").write_text(json.dumps({
        "codefill.url": tiny_serve,
        "codefill.maxTokens": 16,
        "codefill.timeoutMs": 30000,
        "codefill.debounceMs": 50,
    }, indent=2))
    # The extension finds the language server as the workspace's .venv/bin/codefill (VS Code's
    # server takes PATH from a login shell, so PATH is not the environment given here).
    (workspace / ".venv" / "bin").mkdir(parents=True)
    (workspace / ".venv" / "bin" / "codefill").symlink_to(harness.CODEFILL)
    results_path = base / "results.json"
    data_home = base / "data"
    env = {
        "CODEFILL_TEST_WORKSPACE": str(workspace),
        "CODEFILL_TEST_RESULTS": str(results_path),
        "CODEFILL_TEST_SERVE_URL": tiny_serve,
        "CODEFILL_TEST_FAKE_URL": fake_completion_server.url,
        "CODEFILL_TEST_DEAD_URL": dead_url,
        "CODEFILL_TEST_API_KEY": KEY,
        "XDG_DATA_HOME": str(data_home),  # where codefill lsp writes telemetry.jsonl
    }
    codes: list[int] = []
    with harness.CodeServer(base / "code-server", env=env) as server, sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            page = browser.new_page()
            page.expose_function("codeAutomationExit", lambda code, *_: codes.append(int(code)))
            page.goto(server.workbench_url(workspace, tests=harness.SUITE / "index.js",
                                           develop=harness.EXTENSION), timeout=60_000)
            try:
                code = wait_for_exit(page, codes, SUITE_TIMEOUT_S, "the extension-host suite")
            except TimeoutError:
                harness.ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(harness.ARTIFACTS / "suite-timeout.png"))
                raise
        finally:
            browser.close()
        log = server.log_tail(200)
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    telemetry = data_home / "codefill" / "telemetry.jsonl"
    records = [json.loads(line) for line in telemetry.read_text().splitlines()] if telemetry.exists() else []
    return {"code": code, "results": {r["name"]: r for r in results}, "log": log, "telemetry": records,
            "fake": fake_completion_server}


@pytest.mark.parametrize("case", CASES)
def test_extension_host(suite_run, case):
    result = suite_run["results"].get(case)
    if result is None:
        pytest.fail(f"the suite did not run {case!r} (exit code {suite_run['code']}); code-server's log:\n"
                    f"{suite_run['log']}")
    assert result["ok"], result.get("error")


def test_suite_exit_code(suite_run):
    assert suite_run["code"] == 0, [r for r in suite_run["results"].values() if not r["ok"]]


def test_accept_and_dismiss_reach_telemetry(suite_run):
    """Commit ran the item's `codefill.accepted`; Escape's `codefill.dismiss` sent `codefill.dismissed`."""
    outcomes = [r["accepted"] for r in suite_run["telemetry"]]
    assert True in outcomes, suite_run["telemetry"]
    assert False in outcomes, suite_run["telemetry"]


def test_api_key_came_from_secret_storage(suite_run):
    seen = [r["authorization"] for r in suite_run["fake"].requests if r["mode"] == "auth"]
    assert None in seen or any(a != f"Bearer {KEY}" for a in seen), "the first requests had no key"
    assert f"Bearer {KEY}" in seen
