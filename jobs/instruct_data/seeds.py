"""Seed functions for Self-OSS-Instruct: the repository's Python functions and methods with docstrings.

Steps, each counted (`SeedReport.steps`), in this order:

1. `python_files`: the repository's Python files (`scan_repository`: git's file
   list, vendored/generated/minified files skipped).
2. `functions`: function and method definitions found with tree-sitter, at
   module level and in class bodies (nested classes too; functions nested in
   functions are part of their parent). A decorated function keeps its
   decorators; a method is dedented.
3. `no_docstring`: dropped when the body does not open with a string.
4. `unparseable`: dropped when tree-sitter marks an error inside the function
   or Python's own parser rejects its text.
5. `trivial`: dropped when the body is only the docstring, `pass`, `...` or
   `raise NotImplementedError` (an interface, not an implementation).
6. `too_long`: dropped above `max_lines` lines.
7. `exact_duplicates` / `near_duplicates`: MinHash LSH at Jaccard >= 0.5 over
   word 5-grams (`codefill.jobs.training.dedup`, StarCoder2-Instruct's setting); the
   first in path order is kept.
8. `contaminated`: texts that contain one of three sampled 50-character
   substrings of a HumanEval or MBPP problem (`codefill.jobs.training.decontaminate`),
   counted per benchmark.

A seed's id is a hash of its normalised text, so it stays the same when the
file moves, and everything generated from it is found again on a rerun.
"""

from __future__ import annotations

import ast
import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codefill.jobs.training.dedup import EXACT, NEAR, deduplicate, normalize_for_hash
from codefill.jobs.training.languages import parser_for
from codefill.jobs.training.repo_files import RepoScan, scan_repository

DEFAULT_MAX_LINES = 200
STEPS = ("python_files", "functions", "no_docstring", "unparseable", "trivial", "too_long",
         "exact_duplicates", "near_duplicates", "contaminated", "seeds")


@dataclass(frozen=True)
class Seed:
    id: str
    path: str  # relative to the repository root
    qualname: str  # Class.method or function
    line: int  # 1-based line of the definition (its first decorator)
    code: str  # the definition's text, dedented
    docstring: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Seed":
        return cls(**{k: data[k] for k in ("id", "path", "qualname", "line", "code", "docstring")})


@dataclass
class SeedReport:
    seeds: list[Seed]
    steps: dict[str, int]  # STEPS -> count (functions left, or dropped at that step)
    contaminated_by_benchmark: dict[str, int] = field(default_factory=dict)
    contaminated_problems: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"path", "qualname", "reason"}
    other_languages: dict[str, int] = field(default_factory=dict)  # files not in Python, by language

    def to_dict(self) -> dict:
        """The counts (the dropped functions themselves are listed apart: there can be thousands)."""
        return {"steps": dict(self.steps), "contaminated_by_benchmark": dict(self.contaminated_by_benchmark),
                "contaminated_problems": dict(self.contaminated_problems),
                "other_languages": dict(self.other_languages)}


@dataclass(frozen=True)
class FunctionDef:
    path: str
    qualname: str
    line: int
    code: str
    has_error: bool  # tree-sitter found a syntax error inside


def seed_id(code: str) -> str:
    return "s" + hashlib.sha256(normalize_for_hash(code).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def find_functions(text: str, path: str = "") -> list[FunctionDef]:
    """Functions and methods of a Python file, in file order (tree-sitter)."""
    parser = parser_for("python")
    if parser is None:  # pragma: no cover - the language pack always has Python
        raise RuntimeError("tree-sitter has no Python grammar")
    data = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(data)
    found: list[FunctionDef] = []

    def visit(node: Any, scope: list[str]) -> None:
        for child in node.named_children:
            definition, outer = child, child
            if child.type == "decorated_definition":
                definition = child.child_by_field_name("definition")
                if definition is None:
                    continue
            if definition.type == "function_definition":
                name = _name(definition)
                found.append(FunctionDef(
                    path=path, qualname=".".join([*scope, name]), line=outer.start_point.row + 1,
                    code=_dedented(outer, data), has_error=outer.has_error,
                ))
            elif definition.type == "class_definition":
                body = definition.child_by_field_name("body")
                if body is not None:
                    visit(body, [*scope, _name(definition)])
            elif child.type == "ERROR":
                visit(child, scope)  # definitions tree-sitter recovered inside a broken region

    visit(tree.root_node, [])
    return found


def _name(node: Any) -> str:
    name = node.child_by_field_name("name")
    return name.text.decode("utf-8", "replace") if name is not None else "?"


def _dedented(node: Any, data: bytes) -> str:
    # From the start of the node's first line, so the first line keeps its indentation for dedent.
    line_start = data.rfind(b"\n", 0, node.start_byte) + 1
    text = data[line_start:node.end_byte].decode("utf-8", "replace")
    return textwrap.dedent(text).strip("\n") + "\n"


def _function_node(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if len(tree.body) == 1 and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return tree.body[0]
    return None


def _is_trivial(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = fn.body[1:]  # after the docstring
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and (
                stmt.value.value is Ellipsis or isinstance(stmt.value.value, str)):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                continue
        return False
    return True


def _has_docstring_node(code: str) -> bool:
    """Whether the definition's body opens with a string (tree-sitter's view, also for broken code)."""
    parser = parser_for("python")
    tree = parser.parse(code.encode("utf-8", "surrogatepass"))
    node = tree.root_node.named_children[0] if tree.root_node.named_children else None
    if node is not None and node.type == "decorated_definition":
        node = node.child_by_field_name("definition")
    body = node.child_by_field_name("body") if node is not None else None
    if body is None or not body.named_children:
        return False
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children:  # older grammars wrap it
        first = first.named_children[0]
    return first.type in ("string", "concatenated_string")


def extract_seeds(
    repo: str | Path | RepoScan,
    *,
    decontaminator: Any | None = None,
    max_lines: int = DEFAULT_MAX_LINES,
    dedup_threshold: float = 0.5,
    progress: bool = False,
) -> SeedReport:
    """The seeds of a repository with the count of every step (see the module docstring).

    `decontaminator` is a `codefill.jobs.training.decontaminate.Decontaminator` (None:
    no decontamination, and the step counts 0).
    """
    scan = repo if isinstance(repo, RepoScan) else scan_repository(repo, progress=progress)
    files = [f for f in scan.files if f.language == "python"]
    others: dict[str, int] = {}
    for f in scan.files:
        if f.language != "python":
            others[f.language] = others.get(f.language, 0) + 1
    steps = {s: 0 for s in STEPS}
    steps["python_files"] = len(files)
    dropped: list[dict[str, str]] = []

    def drop(fn: FunctionDef, reason: str) -> None:
        dropped.append({"path": fn.path, "qualname": fn.qualname, "line": str(fn.line), "reason": reason})
        steps[reason] += 1

    candidates: list[tuple[FunctionDef, str]] = []  # (function, docstring)
    for f in files:
        for fn in find_functions(f.text, f.path):
            steps["functions"] += 1
            if not _has_docstring_node(fn.code):
                drop(fn, "no_docstring")
                continue
            tree = None
            if not fn.has_error:
                try:
                    tree = ast.parse(fn.code)
                except (SyntaxError, ValueError):
                    tree = None
            node = _function_node(tree) if tree is not None else None
            if node is None:
                drop(fn, "unparseable")
                continue
            docstring = ast.get_docstring(node) or ""
            if not docstring.strip():
                drop(fn, "no_docstring")
                continue
            if _is_trivial(node):
                drop(fn, "trivial")
                continue
            if fn.code.count("\n") > max_lines:
                drop(fn, "too_long")
                continue
            candidates.append((fn, docstring))

    # Dedup on unique keys; two identical functions share a seed id, so the key is the position.
    keyed = {str(i): c for i, c in enumerate(candidates)}
    result = deduplicate(((k, c[0].code) for k, c in keyed.items()), threshold=dedup_threshold,
                         show_progress=progress)
    for r in result.removed:
        fn = keyed[r.key][0]
        drop(fn, "exact_duplicates" if r.reason == EXACT else "near_duplicates")
        dropped[-1]["duplicate_of"] = keyed[r.duplicate_of][0].path + "::" + keyed[r.duplicate_of][0].qualname
    kept = [keyed[k] for k in result.kept]

    by_benchmark: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    if decontaminator is not None:
        clean = decontaminator.filter((str(i), fn.code) for i, (fn, _) in enumerate(kept))
        for key, ids in clean.dropped:
            drop(kept[int(key)][0], "contaminated")
            dropped[-1]["problems"] = ",".join(ids)
        by_benchmark = dict(clean.texts_by_benchmark)
        problems = {b: list(v) for b, v in clean.problems_by_benchmark.items()}
        kept = [kept[int(k)] for k in clean.kept]

    seeds = [Seed(id=seed_id(fn.code), path=fn.path, qualname=fn.qualname, line=fn.line, code=fn.code,
                  docstring=doc) for fn, doc in kept]
    steps["seeds"] = len(seeds)
    assert len({s.id for s in seeds}) == len(seeds), "exact dedup leaves unique seed ids"
    return SeedReport(seeds=seeds, steps=steps, contaminated_by_benchmark=by_benchmark,
                      contaminated_problems=problems, dropped=dropped, other_languages=others)


def limit_seeds(seeds: Sequence[Seed], limit: int | None, seed: int = 0) -> list[Seed]:
    """At most `limit` seeds, drawn by a hash of (seed, id) and returned in repository order.

    A larger limit keeps every seed a smaller one chose, so a rerun with a
    larger `--limit` only adds work."""
    if limit is None or limit >= len(seeds):
        return list(seeds)
    rank = sorted(seeds, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
    chosen = {s.id for s in rank[:max(0, limit)]}
    return [s for s in seeds if s.id in chosen]
