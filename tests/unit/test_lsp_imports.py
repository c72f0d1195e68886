"""The language server is an HTTP client: it must never load the server, the engines or
the ML stack (it runs on laptops without them)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import sys
from lsp.server import build_server
from lsp.settings import Settings
import lsp.cli, lsp.context
build_server(Settings())
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('server', 'torch', 'transformers', 'vllm')
                or m.startswith('model.engines'))
print(loaded)
"""


def test_lsp_loads_no_server_engine_or_ml_code():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
