"""A small git repository whose history renames parameters, for next-edit data, training and evaluation tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=_ENV).stdout


def function(name: str, param: str) -> str:
    return (f"def {name}({param}, factor):\n    \"\"\"Scale {name}.\"\"\"\n    if {param} is None:\n"
            f"        return 0\n    total = {param} * factor\n    return total + len(str({param}))\n\n\n")


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_history(root: Path, renames: int = 12) -> Path:
    """A repository of one Python module; each commit after the first renames one function's parameter
    at all four of its uses (four hunks: the signature first, as a person types it)."""
    repo = root / "geometry"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    names = [f"shape_{i}" for i in range(renames)]
    params = {n: "value" for n in names}
    (repo / "README.md").write_text("geometry\n")

    def write() -> None:
        (repo / "geometry.py").write_text("".join(function(n, params[n]) for n in names))
    write()
    commit_all(repo, "start")
    for i, n in enumerate(names):
        params[n] = f"size_{i}"
        write()
        commit_all(repo, f"rename {n}'s parameter")
    return repo
