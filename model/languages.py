"""The language of a file from its extension: one table for the language server and the training data.

Names are tree-sitter grammar names (model/grammars.py) where the pack has
the language, so a name can be handed to `grammar` as it is. Here, in
`model/`, because the language server may import the model package but not
the other way round.
"""

from __future__ import annotations

import os

# file extension (lower case, with the dot) -> language (a tree-sitter grammar name where one exists)
LANGUAGE_BY_EXTENSION: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyx": "cython",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".groovy": "groovy", ".gradle": "groovy",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".hh": "cpp", ".hxx": "cpp", ".cu": "cpp", ".cuh": "cpp", ".m": "objc", ".mm": "objc",
    ".cs": "csharp", ".fs": "fsharp", ".swift": "swift", ".dart": "dart", ".zig": "zig",
    ".rb": "ruby", ".php": "php", ".pl": "perl", ".pm": "perl", ".lua": "lua", ".r": "r",
    ".jl": "julia", ".hs": "haskell", ".ml": "ocaml", ".mli": "ocaml", ".ex": "elixir",
    ".exs": "elixir", ".erl": "erlang", ".clj": "clojure", ".el": "elisp", ".nim": "nim",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".ps1": "powershell",
    ".sql": "sql", ".proto": "proto", ".tf": "hcl", ".hcl": "hcl",
    ".html": "html", ".htm": "html", ".vue": "vue", ".svelte": "svelte",
    ".css": "css", ".scss": "scss", ".less": "css",
    ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".xml": "xml",
    ".md": "markdown", ".rst": "rst", ".cmake": "cmake", ".mk": "make",
}


def language_of_extension(path: str) -> str | None:
    """The language `path`'s extension names (any case), or None."""
    return LANGUAGE_BY_EXTENSION.get(os.path.splitext(path)[1].lower())
