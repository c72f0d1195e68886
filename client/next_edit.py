"""The client side of `/v1/next_edit` (server/serving_next_edit.py): the request body, and one call.

Positions are LSP's (zero-based lines, UTF-16 characters), so a language server sends its
document coordinates as they are and applies the answer's edits as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from codefill.client.openai_http import api_root, auth_headers, error_message


class NextEditError(Exception):
    """The server answered with an error (`status`) or with a body that is not a next edit."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NextEditBody:
    model: str
    window: str  # whole lines of the document, from `start_line` on
    start_line: int
    cursor_line: int
    cursor_character: int
    path: str | None = None
    language: str | None = None
    events: Sequence[tuple[str, str]] = ()  # (path, unified diff), oldest first
    files: Sequence[tuple[str, str]] = ()  # (path, content)
    max_tokens: int | None = None
    temperature: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other field, as sent

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "window": {"text": self.window, "start_line": self.start_line},
            "cursor": {"line": self.cursor_line, "character": self.cursor_character},
            "events": [{"path": p, "diff": d} for p, d in self.events],
            "files": [{"path": p, "content": c} for p, c in self.files],
        }
        for name in ("path", "language", "max_tokens", "temperature"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return {**body, **self.extra}


async def request_next_edit(http: httpx.AsyncClient, url: str, body: NextEditBody,
                            api_key: str | None = None) -> dict[str, Any]:
    """POST the body to `url`'s /v1/next_edit; the answer's JSON (`window`, `edits`, ...)."""
    endpoint = f"{api_root(url)}/next_edit"
    resp = await http.post(endpoint, json=body.to_json(), headers=auth_headers(api_key))
    if resp.status_code != 200:
        raise NextEditError(f"{endpoint} answered {resp.status_code}: {error_message(resp.text)}", resp.status_code)
    try:
        answer = resp.json()
    except ValueError as exc:
        raise NextEditError(f"{endpoint} answered something that is not JSON: {resp.text[:200]!r}") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("edits"), list):
        raise NextEditError(f"{endpoint} answered without `edits`: {resp.text[:200]!r}")
    return answer


__all__ = ["NextEditBody", "NextEditError", "request_next_edit"]
