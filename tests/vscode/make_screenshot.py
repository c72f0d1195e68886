"""The Marketplace screenshot: real ghost text from a running `codefill serve` in code-server.

    .venv/bin/codefill serve --port 8123 &       # the embedded model
    .venv/bin/python -m tests.vscode.make_screenshot --url http://127.0.0.1:8123

Writes editors/vscode/media/screenshot.png (needs scripts/setup_vscode.sh's install).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.vscode import harness

SOURCE = '''from dataclasses import dataclass


@dataclass
class Point:
    x: float
    y: float

    def distance_to(self, other: "Point") -> float:
        """Euclidean distance between this point and `other`."""
'''
TYPED = "        dx = self.x - other.x\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--out", default=str(harness.EXTENSION / "media" / "screenshot.png"))
    args = parser.parse_args()
    why = harness.missing_reason()
    if why:
        print(why, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    vsix = harness.package_extension()
    with tempfile.TemporaryDirectory(prefix="codefill-shot-") as tmp:
        base = Path(tmp)
        workspace = base / "project"
        (workspace / ".vscode").mkdir(parents=True)
        (workspace / ".vscode" / "settings.json").write_text(json.dumps(
            {"codefill.url": args.url, "codefill.maxTokens": 64, "codefill.timeoutMs": 60000}))
        (workspace / ".venv" / "bin").mkdir(parents=True)
        (workspace / ".venv" / "bin" / "codefill").symlink_to(harness.CODEFILL)
        (workspace / "geometry.py").write_text(SOURCE)
        server = harness.CodeServer(base / "code-server", user_settings={
            "workbench.colorTheme": "Dark 2026", "editor.fontSize": 15, "editor.minimap.enabled": False})
        server.install(vsix)
        server.start()
        try:
            with sync_playwright() as p:
                browser = harness.launch_chromium(p)
                try:
                    page = browser.new_page(viewport={"width": 1200, "height": 640})
                    harness.open_and_type(page, server.workbench_url(workspace), "geometry.py", "dataclass",
                                          TYPED, delay_ms=40)
                    harness.ghost_text(page)
                    # The status bar's latency is drawn with the answer; wait for it.
                    page.wait_for_selector('[aria-label^="codefill: ready, last completion"]', timeout=30_000)
                    page.screenshot(path=args.out)
                    print(args.out)
                finally:
                    browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
