"""The language server is an HTTP client: it must never load the server, the engines or
the ML stack (it runs on laptops without them)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import sys
from codefill.lsp.app import build_server
from codefill.lsp.settings import Settings
import codefill.commands.lsp, codefill.lsp.context
build_server(Settings())
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'vllm')
                or m.startswith(('codefill.server', 'codefill.model.engines')))
print(loaded)
"""


def test_lsp_loads_no_server_engine_or_ml_code():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


FEATURES = ("completion", "configuration", "document_sync", "inline_completion", "lifecycle", "next_edit",
            "telemetry_commands", "workspace_folders")


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=120, check=True).stdout.strip()


def test_the_server_class_knows_no_feature():
    code = ("import sys, codefill.lsp.server; "
            "print(sorted(m for m in sys.modules if m.startswith('codefill.lsp.features')))")
    assert _fresh(code) == "[]"


def test_each_feature_imports_on_its_own():
    # A feature imported first is where an import circle through codefill.lsp.server would break.
    for name in FEATURES:
        assert _fresh(f"import codefill.lsp.features.{name} as f; print(callable(f.register))") == "True", name
