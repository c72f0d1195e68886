"""The language of a repository file, from its name, extension or shebang.

Extensions come from model/languages.py, the table the language server uses
too, so a file is labelled here as the editor's completions see it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from codefill.model.grammars import grammar
from codefill.model.grammars import parser_for as _parser_for
from codefill.model.languages import language_of_extension

# Files known by their whole name.
_BY_NAME: dict[str, str] = {
    "makefile": "make", "gnumakefile": "make", "dockerfile": "dockerfile",
    "cmakelists.txt": "cmake", "rakefile": "ruby", "gemfile": "ruby",
}

# interpreter named on the shebang line -> language
_BY_INTERPRETER: dict[str, str] = {
    "python": "python", "node": "javascript", "deno": "typescript", "bash": "bash", "sh": "bash",
    "zsh": "bash", "dash": "bash", "ruby": "ruby", "perl": "perl", "php": "php", "lua": "lua",
    "rscript": "r", "julia": "julia",
}

_SHEBANG = re.compile(r"#!\s*(\S+)(?:\s+(?:-\S+\s+)*(\S+))?")
_VERSION_SUFFIX = re.compile(r"[\d.]+$")  # python3.11 -> python


def detect_language(path: str, head: str = "") -> str | None:
    """The language of `path` (relative or absolute), or None when it is not one we train on.

    `head` is the start of the file's text, used for scripts without an
    extension (`#!/usr/bin/env python3`).
    """
    name = os.path.basename(path).lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("dockerfile"):
        return "dockerfile"
    language = language_of_extension(name)
    if language is not None:
        return language
    if head.startswith("#!"):
        return _language_of_shebang(head.split("\n", 1)[0])
    return None


def _language_of_shebang(line: str) -> str | None:
    match = _SHEBANG.match(line)
    if match is None:
        return None
    program = os.path.basename(match.group(1))
    if program == "env" and match.group(2):  # "#!/usr/bin/env python3": the interpreter is the argument
        program = os.path.basename(match.group(2))
    return _BY_INTERPRETER.get(_VERSION_SUFFIX.sub("", program.lower()))


def has_grammar(language: str | None) -> bool:
    return language is not None and grammar(language) is not None


def parser_for(language: str | None) -> Any | None:
    """A new tree-sitter parser for the language, or None when the pack has no grammar for it."""
    return _parser_for(language) if language is not None else None
