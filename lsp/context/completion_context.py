"""What the context engine hands to the completion provider."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class CompletionContext:
    prefix: str  # text sent as `prompt`: enclosing headers, then the window up to the cursor
    suffix: str  # text sent as `suffix`
    path: str | None  # workspace-relative path of the document
    repo_name: str | None  # name of the workspace folder holding it
    files: tuple[tuple[str, str], ...]  # (path, content) cross-file pieces, stable pieces first
    language: str | None
    line_prefix: str  # the cursor line left of the cursor
    line_suffix: str  # the cursor line right of the cursor
    multiline: bool | None  # True at an empty block body, False inside a line with code, None: unsure
    key: str  # stable hash of everything that would be sent
    build_ms: float
    # Where the windows were cut (0-based lines of the document), for logs and tests.
    start_line: int = 0
    end_line: int = 0
    headers: tuple[str, ...] = ()


def context_key(prefix: str, suffix: str, files: tuple[tuple[str, str], ...], path: str | None,
                repo_name: str | None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    # Length-prefixed fields, None marked apart from "": no two different contexts hash the same bytes.
    for part in (prefix, suffix, path, repo_name, *(x for pair in files for x in pair)):
        if part is None:
            digest.update(b"N")
            continue
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"S" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
