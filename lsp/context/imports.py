"""Which workspace files a file imports, found with tree-sitter queries over its import statements.

Only files inside the workspace are followed: a library's definitions are in
the model's training data already, the user's own code is not. Resolution is
deliberately simple (no build-system configuration is read): relative imports,
paths from the workspace folders, Go's module path from go.mod, Java's package
layout, C includes next to the file, Rust `mod`/`use crate::`.

The statements are found by `codefill.lsp.context.import_statements`, each language's rules are in
`codefill.lsp.context.import_resolvers`; this module resolves and filters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from tree_sitter import Node

from codefill.lsp.context.import_resolvers import _RESOLVERS, ImportTarget, _inside


def resolve_imports(
    language: str | None, path: str, nodes: list[tuple[str, Node]], roots: Sequence[str],
    is_file: Callable[[str], bool] = os.path.isfile,
) -> list[ImportTarget]:
    """The workspace files that the import statements name. `roots` are the workspace folders."""
    if language is None:
        return []
    resolver = _RESOLVERS.get(language)
    if resolver is None:
        return []
    targets: list[ImportTarget] = []
    seen: set[str] = set()
    for target in resolver(path, nodes, list(roots), is_file):
        real = os.path.normpath(target.path)
        if real == os.path.normpath(path):
            continue
        if not any(_inside(real, root) for root in roots) and not _inside(real, os.path.dirname(path)):
            continue
        if real in seen:
            # The same file imported twice: any name wins over a restricted set.
            for i, t in enumerate(targets):
                if t.path == real and t.names is not None:
                    names = None if target.names is None else t.names | target.names
                    targets[i] = ImportTarget(real, names, t.aliases + target.aliases)
            continue
        seen.add(real)
        targets.append(ImportTarget(real, target.names, target.aliases))
    return targets
