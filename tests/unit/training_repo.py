"""A small generated git repository with one file of every kind the data pipeline must handle.

The expected counts of each step are written next to the files that cause
them, so a test failure points at the rule that changed.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from codefill.jobs.evaluation.humaneval import load_problems as humaneval
from codefill.jobs.evaluation.mbpp import load_problems as mbpp
from codefill.jobs.training.decontaminate import mbpp_problems, normalize, sample_needles

APP_PY = '''"""Inventory of a small shop."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price_cents: int
    quantity: int


def total_value(items: list[Item]) -> int:
    total = 0
    for item in items:
        total += item.price_cents * item.quantity
    return total


def cheapest(items: list[Item]) -> Item | None:
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        if item.price_cents < best.price_cents:
            best = item
    return best


class Ledger:
    def __init__(self) -> None:
        self.entries: list[tuple[str, int]] = []

    def record(self, label: str, amount: int) -> None:
        if amount == 0:
            raise ValueError("an entry needs an amount")
        self.entries.append((label, amount))

    def balance(self) -> int:
        return sum(amount for _, amount in self.entries)
'''

UTIL_PY = '''import re

SLUG_SEPARATOR = "-"


def slugify(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return SLUG_SEPARATOR.join(words)


def truncate_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]) + " ..."


def parse_duration(spec: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = spec[:-1], spec[-1]
    if unit not in units or not number.isdigit():
        raise ValueError(f"bad duration: {spec}")
    return int(number) * units[unit]


def chunked(values: list[int], size: int) -> list[list[int]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
'''

MAIN_JS = '''import { fetchJson } from "./http.js";

export async function loadUsers(baseUrl) {
  const users = await fetchJson(`${baseUrl}/users`);
  return users.filter((user) => user.active);
}

export function groupByTeam(users) {
  const teams = new Map();
  for (const user of users) {
    if (!teams.has(user.team)) {
      teams.set(user.team, []);
    }
    teams.get(user.team).push(user.name);
  }
  return teams;
}
'''

SERVER_GO = '''package main

import (
\t"fmt"
\t"net/http"
)

func health(w http.ResponseWriter, r *http.Request) {
\tif r.Method != http.MethodGet {
\t\thttp.Error(w, "method not allowed", http.StatusMethodNotAllowed)
\t\treturn
\t}
\tfmt.Fprintln(w, "ok")
}

func main() {
\thttp.HandleFunc("/health", health)
\thttp.ListenAndServe(":8080", nil)
}
'''

DEPLOY_SH = '''#!/usr/bin/env bash
set -euo pipefail
for host in web1 web2; do
  rsync -a build/ "deploy@${host}:/srv/app/"
done
'''

NOTES_PY = '''# Scratch helpers, not yet committed.
def celsius_to_fahrenheit(degrees: float) -> float:
    return degrees * 9 / 5 + 32
'''


@cache
def humaneval_solution() -> tuple[str, str]:
    """(problem id, a file holding that problem's function with its canonical solution verbatim)."""
    problem = humaneval()[0]
    return problem.task_id, "# copied from a tutorial\n" + problem.prompt + problem.canonical_solution


@cache
def mbpp_paste() -> tuple[str, str]:
    """(problem id, a file with an MBPP reference solution pasted in).

    The method samples three substrings of statement + code + asserts, so a
    paste of the code alone is caught only when one falls inside the code:
    the first test-split problem where one does is pasted.
    """
    codes = {f"Mbpp/{p.task_id}": p.code for p in mbpp(split="test")}
    for problem in mbpp_problems():
        code = codes.get(problem.problem_id)
        if code and any(n.text in normalize(code) for n in sample_needles(problem)):
            return problem.problem_id, "import math\n\n" + code.replace("\r\n", "\n") + "\n"
    raise AssertionError("no MBPP problem has a needle inside its code")


# path -> (content, what the pipeline must do with it)
def repo_files() -> dict[str, tuple[str | bytes, str]]:
    _, humaneval_file = humaneval_solution()
    _, mbpp_file = mbpp_paste()
    near_copy = UTIL_PY.replace("truncate_words", "shorten_words")  # one identifier renamed
    exact_copy = "\n".join(line + "  " for line in APP_PY.split("\n"))  # trailing spaces only
    return {
        ".gitignore": ("build/\n*.log\n", "unknown_language"),
        "LICENSE": ("Permission is hereby granted, free of charge.\n", "unknown_language"),
        "src/app.py": (APP_PY, "kept"),
        "src/app_copy.py": (exact_copy, "exact"),
        "src/util.py": (UTIL_PY, "kept"),
        "src/util_renamed.py": (near_copy, "near"),
        "src/empty.py": ("\n\n", "empty"),
        "src/solution.py": (humaneval_file, "humaneval"),
        "src/pasted.py": (mbpp_file, "mbpp"),
        "web/main.js": (MAIN_JS, "kept"),
        "web/bundle.js": ("var a=1;" * 200 + "\n", "minified"),
        "cmd/server.go": (SERVER_GO, "kept"),
        "gen/models.go": ("// Code generated by sqlc. DO NOT EDIT.\npackage gen\n", "generated"),
        "proto/msg_pb2.py": ("DESCRIPTOR = None\n", "generated"),
        "vendor/lib.js": ("export const vendored = true;\n", "vendored"),
        "node_modules/left-pad/index.js": ("module.exports = (s) => s;\n", "vendored"),
        "assets/logo.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        "data/big.py": ("x = 1\n" * 200_000, "huge"),  # 1.2 MB > the 1 MB default
        "scripts/deploy": (DEPLOY_SH, "kept"),  # language from the shebang
    }


UNTRACKED = {"notes.py": (NOTES_PY, "kept")}  # untracked but not ignored: git lists it
IGNORED = {"build/out.py": "print('built')\n", "debug.log": "log line\n"}


def write(root: Path, files: dict[str, tuple[str | bytes, str]] | dict[str, str]) -> None:
    for rel, value in files.items():
        content = value[0] if isinstance(value, tuple) else value
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def make_repo(root: Path, *, git: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tracked = repo_files()
    write(root, tracked)
    if git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        # Staged is enough: ls-files --cached lists the index, no commit (or user config) needed.
        subprocess.run(["git", "-C", str(root), "add", "--", *tracked], check=True)
    write(root, UNTRACKED)
    write(root, IGNORED)
    return root
