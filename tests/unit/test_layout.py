"""The floor plan (README "Layout"): one installed namespace, folders that hold what their names say,
imports that run one way, and modules small enough to read in one sitting."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
ROOTS = ("client", "commands", "jobs", "lsp", "model", "server")
MAX_LINES = 420

# Who may import whom (at load time or inside a function). The serving core never reaches into
# offline jobs or commands; the language server stays an HTTP client; commands sit on top.
ALLOWED = {
    "client": {"model"},
    "model": set(),
    "server": {"model", "client"},
    "lsp": {"model", "client"},
    # fim_run applies the server's own post-processing options offline (one copy of that rule)
    "jobs": {"model", "client", "lsp", "server"},
    "commands": {"model", "client", "server", "lsp", "jobs"},
}


def _modules():
    for root in ROOTS:
        yield from sorted((REPO_ROOT / root).rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "codefill" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_package_is_installed_under_the_codefill_namespace():
    tool = PYPROJECT["tool"]["setuptools"]
    assert tool["package-dir"] == {f"codefill.{r}": r for r in ROOTS}
    on_disk = {"codefill." + ".".join(p.parent.relative_to(REPO_ROOT).parts)
               for r in ROOTS for p in (REPO_ROOT / r).rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk
    assert PYPROJECT["project"]["scripts"]["codefill"].startswith("codefill.commands.")


def test_no_module_imports_a_bare_top_level_name_of_ours():
    bad = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                bad += [f"{path}: import {a.name}" for a in node.names if a.name.split(".")[0] in ROOTS]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] in ROOTS:
                    bad.append(f"{path}: from {node.module}")
    assert bad == []


def test_imports_run_one_way():
    bad = []
    for path in _modules():
        own = path.relative_to(REPO_ROOT).parts[0]
        for other in _imported_roots(path) - {own} - ALLOWED[own]:
            bad.append(f"{path.relative_to(REPO_ROOT)} imports codefill.{other}")
    assert bad == []


def test_no_module_is_too_long_to_read():
    long = [f"{p.relative_to(REPO_ROOT)}: {n}" for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == []


def test_the_wheel_installs_one_top_level_name_and_the_data_files(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(REPO_ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("codefill-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"codefill"}
    for data in ("codefill/jobs/bench/replay/histories.json", "codefill/jobs/evaluation/fim_sources.json",
                 "codefill/jobs/training/configs/fsdp.yaml"):
        assert data in names
