"""Each language's resolution of import statements to workspace files (`_RESOLVERS`), and the
`ImportTarget` they produce.

Apart from `codefill.lsp.context.imports` (`resolve_imports`, which dispatches here and filters) because
the per-language rules are most of the code and each reads only its own statements.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from codefill.lsp.context.import_statements import _text, _unquote

_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs")


@dataclass(frozen=True)
class ImportTarget:
    """A workspace file this file imports, and which of its names are in scope (None: any)."""

    path: str
    names: frozenset[str] | None = None
    # local name -> name in the target (`from m import a as b`: b -> a)
    aliases: tuple[tuple[str, str], ...] = field(default=())


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


# --- Python ---------------------------------------------------------------


def _python_roots(path: str, roots: list[str]) -> list[str]:
    """Where absolute imports may start: above the file's package, the workspace folders, their src/."""
    found: list[str] = []
    directory = os.path.dirname(path)
    top = directory
    while os.path.isfile(os.path.join(top, "__init__.py")) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    for candidate in (top, *roots, *(os.path.join(r, "src") for r in roots), directory):
        if candidate not in found:
            found.append(candidate)
    return found


def _python_module(base: str, parts: list[str], is_file: Callable[[str], bool]) -> str | None:
    stem = os.path.join(base, *parts) if parts else base
    for candidate in (stem + ".py", os.path.join(stem, "__init__.py"), stem + ".pyi"):
        if parts or candidate.endswith("__init__.py"):
            if is_file(candidate):
                return candidate
    return None


def _python(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    out: list[ImportTarget] = []
    search = _python_roots(path, roots)

    def find(level: int, parts: list[str]) -> str | None:
        if level > 0:
            base = os.path.dirname(path)
            for _ in range(level - 1):
                base = os.path.dirname(base)
            return _python_module(base, parts, is_file)
        for root in search:
            found = _python_module(root, parts, is_file)
            if found:
                return found
        return None

    for _, node in nodes:
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
                found = find(0, _text(dotted).split("."))
                if found:
                    out.append(ImportTarget(found))
            continue
        module = node.child_by_field_name("module_name")
        level, parts = 0, []
        if module is not None and module.type == "relative_import":
            prefix = next((c for c in module.children if c.type == "import_prefix"), None)
            level = len(_text(prefix))
            dotted = next((c for c in module.named_children if c.type == "dotted_name"), None)
            parts = _text(dotted).split(".") if dotted is not None else []
        elif module is not None:
            parts = _text(module).split(".")
        names: set[str] = set()
        aliases: list[tuple[str, str]] = []
        wildcard = any(c.type == "wildcard_import" for c in node.named_children)
        for name in node.children_by_field_name("name"):
            if name.type == "aliased_import":
                original = _text(name.child_by_field_name("name"))
                local = _text(name.child_by_field_name("alias"))
                aliases.append((local, original))
                names.add(original)
            else:
                original = _text(name)
                names.add(original)
            # `from pkg import module` imports a module, not a name.
            submodule = find(level, [*parts, original])
            if submodule:
                out.append(ImportTarget(submodule))
        module_file = find(level, parts)
        if module_file:
            out.append(ImportTarget(module_file, None if wildcard else frozenset(names), tuple(aliases)))
    return out


# --- JavaScript / TypeScript -----------------------------------------------


def _js_file(base: str, is_file) -> str | None:
    stem, ext = os.path.splitext(base)
    candidates = [base] if ext else []
    if ext in (".js", ".jsx", ".mjs", ".cjs"):
        candidates += [stem + ".ts", stem + ".tsx"]  # TypeScript ESM imports name the emitted .js
    candidates += [base + e for e in _JS_EXTENSIONS]
    candidates += [os.path.join(base, "index" + e) for e in _JS_EXTENSIONS]
    return next((c for c in candidates if is_file(c)), None)


def _javascript(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    out: list[ImportTarget] = []
    directory = os.path.dirname(path)
    statement: Node | None = None
    for capture, node in nodes:
        if capture in ("import", "require"):
            statement = node
            continue
        if capture != "source":
            continue
        spec = _unquote(_text(node))
        if not spec.startswith("."):
            continue  # a package: its definitions are not the user's code
        found = _js_file(os.path.normpath(os.path.join(directory, spec)), is_file)
        if not found:
            continue
        names: set[str] | None = None
        aliases: list[tuple[str, str]] = []
        if statement is not None and statement.type == "import_statement":
            clause = next((c for c in statement.named_children if c.type == "import_clause"), None)
            named = clause is not None and any(c.type == "named_imports" for c in clause.named_children)
            whole = clause is None or any(c.type in ("namespace_import", "identifier") for c in clause.named_children)
            if named and not whole:
                names = set()
                for spec_node in clause.named_children[0].named_children:
                    original = _text(spec_node.child_by_field_name("name"))
                    alias = spec_node.child_by_field_name("alias")
                    names.add(original)
                    if alias is not None:
                        aliases.append((_text(alias), original))
        out.append(ImportTarget(found, None if names is None else frozenset(names), tuple(aliases)))
    return out


# --- Go -------------------------------------------------------------------


def _go_module(path: str, roots: list[str]) -> tuple[str, str] | None:
    """(module path, its directory) from the nearest go.mod at or above the file."""
    directory = os.path.dirname(path)
    while True:
        gomod = os.path.join(directory, "go.mod")
        if os.path.isfile(gomod):
            try:
                with open(gomod, encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        if line.startswith("module "):
                            return line.split()[1].strip('"'), directory
            except OSError:
                return None
            return None
        parent = os.path.dirname(directory)
        if parent == directory or not any(_inside(directory, r) or directory == r for r in roots):
            return None
        directory = parent


def _go(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    module = None
    out: list[ImportTarget] = []
    for capture, node in nodes:
        if capture != "source":
            continue
        spec = _unquote(_text(node))
        if module is None:
            module = _go_module(path, roots) or ("", "")
        name, directory = module
        if not name or not (spec == name or spec.startswith(name + "/")):
            continue
        package_dir = os.path.join(directory, *spec[len(name):].strip("/").split("/"))
        out += [ImportTarget(f) for f in list_sources(package_dir, ".go")]
    return out


# --- Java -----------------------------------------------------------------


def _java(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    directory = os.path.dirname(path)
    root = directory
    out: list[ImportTarget] = []
    for capture, node in nodes:
        if capture == "package":
            package = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
            parts = _text(package).split(".") if package is not None else []
            tail = os.path.join(*parts) if parts else ""
            if tail and directory.endswith(os.sep + tail):
                root = directory[: -len(tail) - 1]
        elif capture == "import":
            target = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
            if target is None:
                continue
            parts = _text(target).split(".")
            if any(c.type == "asterisk" for c in node.named_children):
                out += [ImportTarget(f) for f in list_sources(os.path.join(root, *parts), ".java")]
                continue
            # `import a.B;` or `import static a.B.member;`: the longest prefix that is a file.
            for end in range(len(parts), 0, -1):
                candidate = os.path.join(root, *parts[:end]) + ".java"
                if is_file(candidate):
                    out.append(ImportTarget(candidate))
                    break
    return out


# --- C / C++ --------------------------------------------------------------


def _c(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    out: list[ImportTarget] = []
    directory = os.path.dirname(path)
    for capture, node in nodes:
        if capture != "source":
            continue
        spec = _unquote(_text(node))
        bases = [directory, *roots, *(os.path.join(r, "include") for r in roots)]
        found = next((c for c in (os.path.normpath(os.path.join(b, spec)) for b in bases) if is_file(c)), None)
        if found:
            out.append(ImportTarget(found))
    return out


# --- Rust -----------------------------------------------------------------


def _rust_module_dir(path: str) -> str:
    """The directory holding the child modules of the module in `path`."""
    directory, name = os.path.split(path)
    if name in ("mod.rs", "lib.rs", "main.rs"):
        return directory
    return os.path.join(directory, os.path.splitext(name)[0])


def _rust_crate_root(path: str, roots: list[str]) -> str | None:
    directory = os.path.dirname(path)
    while True:
        if os.path.isfile(os.path.join(directory, "lib.rs")) or os.path.isfile(os.path.join(directory, "main.rs")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory or not any(_inside(parent, r) or parent == r for r in roots):
            return None
        directory = parent


def _rust_file(base: str, parts: list[str], is_file) -> str | None:
    """The file of the longest module path prefix of `parts` under `base`."""
    for end in range(len(parts), 0, -1):
        stem = os.path.join(base, *parts[:end])
        for candidate in (stem + ".rs", os.path.join(stem, "mod.rs")):
            if is_file(candidate):
                return candidate
    return None


def _rust_use_paths(node: Node) -> list[list[str]]:
    """Each path a use declaration names, as segments (`crate::a::{b, c::d}` -> a/b, a/c/d)."""
    t = node.type
    if t in ("identifier", "crate", "super", "self", "type_identifier"):
        return [[_text(node)]]
    if t == "scoped_identifier":
        heads = _rust_use_paths(node.child_by_field_name("path")) if node.child_by_field_name("path") else [[]]
        name = _text(node.child_by_field_name("name"))
        return [h + [name] for h in heads]
    if t == "scoped_use_list":
        path_node = node.child_by_field_name("path")
        heads = _rust_use_paths(path_node) if path_node is not None else [[]]
        tails = _rust_use_paths(node.child_by_field_name("list"))
        return [h + tl for h in heads for tl in tails]
    if t == "use_list":
        out: list[list[str]] = []
        for child in node.named_children:
            out += _rust_use_paths(child)
        return out
    if t == "use_as_clause":
        return _rust_use_paths(node.child_by_field_name("path"))
    if t == "use_wildcard":
        inner = node.named_children[0] if node.named_children else None
        return _rust_use_paths(inner) if inner is not None else []
    return []


def _rust(path: str, nodes: list[tuple[str, Node]], roots: list[str], is_file) -> list[ImportTarget]:
    out: list[ImportTarget] = []
    module_dir = _rust_module_dir(path)
    crate_root: str | None = None
    for capture, node in nodes:
        if capture == "mod":
            if node.child_by_field_name("body") is not None:
                continue
            name = _text(node.child_by_field_name("name"))
            found = _rust_file(module_dir, [name], is_file)
            if found:
                out.append(ImportTarget(found))
            continue
        if capture != "use":
            continue
        argument = node.child_by_field_name("argument")
        for parts in _rust_use_paths(argument) if argument is not None else []:
            if not parts:
                continue
            head, rest = parts[0], parts[1:]
            if head == "crate":
                crate_root = crate_root or _rust_crate_root(path, roots)
                base = crate_root
            elif head == "self":
                base = module_dir
            elif head == "super":
                base = os.path.dirname(module_dir)
                while rest and rest[0] == "super":
                    base, rest = os.path.dirname(base), rest[1:]
            else:
                continue  # another crate
            found = _rust_file(base, rest, is_file) if base and rest else None
            if found:
                out.append(ImportTarget(found))
    return out


_RESOLVERS = {
    "python": _python,
    "javascript": _javascript,
    "typescript": _javascript,
    "tsx": _javascript,
    "go": _go,
    "java": _java,
    "c": _c,
    "cpp": _c,
    "rust": _rust,
}


def list_sources(directory: str, extension: str, limit: int = 200) -> list[str]:
    """Source files directly in `directory` (sorted, so that results are stable)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if n.endswith(extension)][:limit]
