"""The body of a `/v1/completions` request as codefill's own clients send it.

The server reads it with server/protocol.py (`CompletionRequest`, `CodefillOptions`); the
clients (the language server, `codefill eval`, `codefill bench`) may not import the server,
and the language server must start fast, so this side is plain dataclasses, no pydantic.
tests/unit/test_client_request.py keeps the field names the same as the server's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# Not sent at all. Distinct from None, which is sent as null: the language server has always
# sent every field it knows, null meaning "the server decides" (same as leaving it out at a
# current server, but what an older one saw, so it stays).
UNSET: Any = _Unset()


@dataclass
class CodefillFields:
    """The `codefill` extension object; fields left UNSET are not sent. The field order is
    the order on the wire."""

    repo_name: str | None = UNSET
    path: str | None = UNSET
    language: str | None = UNSET
    files: Sequence[tuple[str, str]] = UNSET  # (path, content)
    multiline: bool | None = UNSET
    max_time_ms: int | None = UNSET
    postprocess: bool = UNSET
    rules: Mapping[str, bool] = UNSET

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is UNSET:
                continue
            if f.name == "files":
                value = [{"path": p, "content": c} for p, c in value]
            elif f.name == "rules":
                value = dict(value)
            out[f.name] = value
        return out


@dataclass
class CompletionBody:
    """A `/v1/completions` body: plain, fill-in-the-middle with `suffix`, or a raw FIM prompt."""

    model: str
    prompt: str
    max_tokens: int
    temperature: float
    stop: str | Sequence[str] | None = None  # empty: not sent
    stream: bool = False
    include_usage: bool = False  # `stream_options.include_usage`, when streaming
    # Sent as given, over the fields above (`--extra-body`), under the three below.
    extra: Mapping[str, Any] | None = None
    suffix: str | None = None  # None: not sent (a raw prompt, or a plain completion)
    stop_token_ids: Sequence[int] | None = None  # vLLM's extension; empty: not sent
    # Merged key by key over a `codefill` object in `extra`, so `--extra-body '{"codefill": ...}'`
    # keeps what the caller did not set. A mapping is sent as it is (callers' own keys).
    codefill: CodefillFields | Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt, "max_tokens": self.max_tokens,
                                "temperature": self.temperature}
        if self.stop:
            body["stop"] = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        if self.stream:
            body["stream"] = True
            if self.include_usage:
                body["stream_options"] = {"include_usage": True}
        if self.extra:
            body.update(self.extra)
        if self.suffix is not None:
            body["suffix"] = self.suffix
        if self.stop_token_ids:
            body["stop_token_ids"] = list(self.stop_token_ids)
        if self.codefill is not None:
            ext = self.codefill.to_json() if isinstance(self.codefill, CodefillFields) else dict(self.codefill)
            body["codefill"] = {**(body.get("codefill") or {}), **ext}
        return body


__all__ = ["UNSET", "CodefillFields", "CompletionBody"]
