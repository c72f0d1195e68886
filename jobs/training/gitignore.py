"""A walk of a folder that is not a git repository, honouring its .gitignore files.

Only for the fallback: inside a git repository git itself decides (it knows
global excludes, .git/info/exclude and every corner of the syntax). Here the
common rules are honoured: comments, blank lines, `!` negation, a trailing `/`
for directories only, patterns anchored by a `/`, `*`, `?`, `[...]` and `**`.
The last matching rule wins, rules of deeper .gitignore files come later, and
an ignored directory is not entered (git cannot re-include files inside one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


# Version-control metadata and tool caches: never source, and git would not list them.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


@dataclass(frozen=True)
class _Rule:
    base: str  # directory of the .gitignore, relative to the root ("" at the root), posix
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:close]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = close + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def parse_gitignore(text: str, base: str = "") -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\"):  # "\#file" and "\!file" name files starting with those characters
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line  # a slash anywhere but the end ties the pattern to the .gitignore's folder
        line = line.lstrip("/")
        body = _glob_to_regex(line)
        regex = re.compile(body if anchored else f"(?:.*/)?{body}")
        rules.append(_Rule(base, regex, negate, dir_only))
    return rules


class GitignoreMatcher:
    def __init__(self) -> None:
        self._rules: list[_Rule] = []

    def add(self, rules: list[_Rule]) -> None:
        self._rules.extend(rules)

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        verdict = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.base:
                if not rel_path.startswith(rule.base + "/"):
                    continue
                local = rel_path[len(rule.base) + 1:]
            else:
                local = rel_path
            if rule.regex.fullmatch(local):
                verdict = not rule.negate
        return verdict


def walk_with_gitignore(root: Path) -> Iterator[str]:
    """Relative posix paths of the files under `root` that its .gitignore files do not exclude, sorted."""
    matcher = GitignoreMatcher()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if ".gitignore" in filenames:
            try:
                text = (Path(dirpath) / ".gitignore").read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            matcher.add(parse_gitignore(text, rel_dir))

        def rel(name: str) -> str:
            return f"{rel_dir}/{name}" if rel_dir else name

        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIPPED_DIRS and not matcher.ignored(rel(d), is_dir=True)
        )
        found.extend(rel(f) for f in filenames if not matcher.ignored(rel(f), is_dir=False))
    yield from sorted(found)
