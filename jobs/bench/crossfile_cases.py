"""Cases of the cross-file quality benchmark (`codefill.jobs.bench.crossfile_quality`): an installed
package copied into a workspace, and every call into another of its modules, found with `ast`."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codefill.model.utf16 import utf16_len

# How many re-exports (`from .x import f` in an `__init__`) are followed to the real definition.
_MAX_REEXPORT_HOPS = 5


# --- the package --------------------------------------------------------------


def package_source(import_name: str) -> Path:
    """The installed package's directory (a namespace or single-module package is refused)."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{import_name!r} is not an installed package (a folder with modules)")
    return Path(list(spec.submodule_search_locations)[0])


def package_version(import_name: str) -> str | None:
    dists = importlib.metadata.packages_distributions().get(import_name) or [import_name]
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def copy_package(source: Path, workspace: Path, import_name: str) -> Path:
    """Copy the package's .py files to `workspace/<import_name>/` (no caches, no binaries)."""
    target = workspace / import_name
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return target


# --- case extraction ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    file: str  # workspace-relative path of the calling module, "/"-separated
    line: int  # 0-based
    character: int  # LSP (UTF-16) column of the cursor
    column: int  # the same as a string index into the line
    callee: str  # the callee expression as written ("f", "mod.f")
    definition_file: str  # workspace-relative path of the module that defines it
    definition_name: str  # its name there
    via_reexport: bool  # reached through an `__init__`-style re-export
    line_prefix: str  # the line left of the cursor
    middle: str  # the rest of the line (trailing whitespace stripped)

    @property
    def case_id(self) -> str:
        return f"{self.file}:{self.line + 1}"


@dataclass
class _Module:
    name: str  # dotted
    rel: str  # workspace-relative path
    is_package: bool  # an __init__.py
    tree: ast.Module
    lines: list[str]
    definitions: set[str] = field(default_factory=set)  # top-level def / class names
    # local name -> ("module", dotted) or ("symbol", dotted module, name there)
    bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _module_name(rel_to_root: Path) -> str:
    parts = list(rel_to_root.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, and those one level down in top-level if/try blocks: where the
    context engine looks for imports too (version guards, `if TYPE_CHECKING:`)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out += stmt.body + stmt.orelse
        elif isinstance(stmt, ast.Try):
            out += stmt.body + stmt.orelse + stmt.finalbody
            for handler in stmt.handlers:
                out += handler.body
    return out


def load_modules(root: Path, top: str) -> dict[str, _Module]:
    """Every module under `root/top` (the package folder), parsed, by dotted name."""
    modules: dict[str, _Module] = {}
    for path in sorted((root / top).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        rel = path.relative_to(root)
        mod = _Module(_module_name(rel), rel.as_posix(), path.name == "__init__.py", tree,
                      text.split("\n"))
        for stmt in _top_statements(tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                mod.definitions.add(stmt.name)
        modules[mod.name] = mod
    for mod in modules.values():
        _bind_imports(mod, modules, top)
    return modules


def _bind_imports(mod: _Module, modules: dict[str, _Module], top: str) -> None:
    for stmt in _top_statements(mod.tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.split(".")[0] != top:
                    continue
                if alias.asname:
                    if alias.name in modules:
                        mod.bindings[alias.asname] = ("module", alias.name)
                else:  # `import pkg.a.b` binds `pkg`; attribute chains walk down from it
                    mod.bindings[top] = ("module", top)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
                for _ in range(stmt.level - 1):
                    package = package.rpartition(".")[0]
                base = ".".join(p for p in (package, stmt.module or "") if p)
            else:
                base = stmt.module or ""
                if base.split(".")[0] != top:
                    continue  # another package: not the project's code
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    mod.bindings[local] = ("module", sub)
                elif base in modules:
                    mod.bindings[local] = ("symbol", base, alias.name)


def _definition(modules: dict[str, _Module], module: str, name: str) -> tuple[str, str, int] | None:
    """(defining module, name, hops): where `module.name` is really defined, following re-exports."""
    for hops in range(_MAX_REEXPORT_HOPS + 1):
        mod = modules.get(module)
        if mod is None:
            return None
        if name in mod.definitions:
            return module, name, hops
        binding = mod.bindings.get(name)
        if binding is None or binding[0] != "symbol":
            return None
        module, name = binding[1], binding[2]
    return None


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _callee(mod: _Module, modules: dict[str, _Module], func: ast.expr) -> tuple[str, str, int] | None:
    """The (defining module, name, hops) of a call's callee, when it is the package's code."""
    parts = _dotted(func)
    if not parts:
        return None
    binding = mod.bindings.get(parts[0])
    if binding is None:
        return None
    if binding[0] == "symbol":
        return _definition(modules, binding[1], binding[2]) if len(parts) == 1 else None
    current = binding[1]
    for part in parts[1:-1]:  # down through submodules: `pkg.a.b.f`
        current = f"{current}.{part}"
        if current not in modules:
            return None
    return _definition(modules, current, parts[-1]) if len(parts) > 1 else None


def extract_cases(root: Path, top: str) -> list[Case]:
    """All cross-module call cases of the package `root/top`, in file and line order."""
    modules = load_modules(root, top)
    cases: list[Case] = []
    for mod in sorted(modules.values(), key=lambda m: m.rel):
        best: dict[int, tuple[int, ast.expr, tuple[str, str, int]]] = {}  # line -> leftmost call
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if func.lineno != func.end_lineno:
                continue
            found = _callee(mod, modules, func)
            if found is None or found[0] == mod.name:
                continue
            line = func.lineno - 1
            if line not in best or func.col_offset < best[line][0]:
                best[line] = (func.col_offset, func, found)
        for line, (col_bytes, func, (def_module, def_name, hops)) in sorted(best.items()):
            text = mod.lines[line]
            # ast columns are UTF-8 byte offsets; the editor counts characters.
            encoded = text.encode("utf-8")
            column = len(encoded[:col_bytes].decode("utf-8"))
            callee = encoded[col_bytes:func.end_col_offset].decode("utf-8")
            middle = text[column:].rstrip()
            cases.append(Case(
                file=mod.rel, line=line, character=utf16_len(text[:column]), column=column,
                callee=callee, definition_file=modules[def_module].rel, definition_name=def_name,
                via_reexport=hops > 0, line_prefix=text[:column], middle=middle,
            ))
    return cases


def sample_cases(cases: Sequence[Case], limit: int | None, seed: int) -> list[Case]:
    """A deterministic sample, round-robin over files (in a seeded order), so one big module
    cannot take it over. Depends only on the cases, `limit` and `seed`."""
    if limit is None or limit >= len(cases):
        return list(cases)
    rng = random.Random(seed)
    by_file: dict[str, list[Case]] = {}
    for case in cases:
        by_file.setdefault(case.file, []).append(case)
    files = sorted(by_file)
    rng.shuffle(files)
    queues = []
    for name in files:
        queue = list(by_file[name])
        rng.shuffle(queue)
        queues.append(queue)
    chosen: list[Case] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return sorted(chosen, key=lambda c: (c.file, c.line))
