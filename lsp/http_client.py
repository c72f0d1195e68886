"""The client of an OpenAI-compatible `/v1/completions` endpoint.

Two ways to ask for a fill-in-the-middle completion:

* `suffix` mode (default): `prompt` = prefix, `suffix` = suffix, plus codefill's
  extension field with the repository context; the server builds the model's prompt.
* raw-template mode (`raw_fim_template`): for servers without `suffix` support, such
  as vLLM's own; the prompt is built here with codefill's template and the answer is
  cut here (at the family's end tokens; single-line: at the first newline).

Requests always stream: leaving the stream early (a newer keystroke, `$/cancelRequest`,
a raw single-line answer that already has its newline) closes the connection, which
is how the server learns to abort the engine request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from codefill.lsp.settings import Settings
from codefill.client.next_edit import NextEditBody, NextEditError, request_next_edit
from codefill.client.request import CodefillFields, CompletionBody
from codefill.client.openai_http import StreamError, api_root, auth_headers, error_message, sse_chunks

log = logging.getLogger(__name__)

DRAIN_S = 0.2


class CompletionFailed(Exception):
    """The server could not give a completion. `kind` says why, for what the editor is told
    (codefill.lsp.editor_status):

    * "unreachable": no connection to `url` (nothing listens there, unknown host, not HTTP(S));
    * "refused": the server answered 401/403, the API key is missing or not accepted;
    * "timeout": no (whole) answer within `timeout_ms`, e.g. a busy server or a slow model;
    * "error": any other failure (an error status, a broken stream, no model listed).
    """

    KINDS = ("unreachable", "refused", "timeout", "error")

    def __init__(self, message: str, *, kind: str = "error", url: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # one of KINDS
        self.url = url  # the completion server, as configured (`url`)
        self.status = status  # the HTTP status, when the server answered

    @classmethod
    def from_status(cls, message: str, status: int, url: str) -> CompletionFailed:
        return cls(message, kind="refused" if status in (401, 403) else "error", url=url, status=status)


# No connection at all: what a wrong `url` (or a server that is not running) gives.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)


class RawCut:
    """Client-side end of a raw-template answer: the template's end tokens, and for a
    single-line request the first newline."""

    def __init__(self, template_name: str, multiline: bool) -> None:
        from codefill.model.templates.fim import get_fim_template

        self._stops = tuple(get_fim_template(template_name).stop_tokens) + (() if multiline else ("\n",))

    def cut(self, text: str) -> tuple[str, bool]:
        """(text up to the first stop, whether a stop was found)."""
        ends = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if not ends:
            return text, False
        return text[:min(ends)], True


class FimClient:
    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._models: dict[tuple[str, str | None], str] = {}  # (api root, key) -> model id
        self._refused: dict[str, set[str]] = {}  # server URL -> newer `codefill` fields it refuses

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:  # created inside the running event loop
            # No per-read timeout: `complete` puts one deadline on the whole request.
            self._http = httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_keepalive_connections=4))
        return self._http

    async def complete(self, ctx: Any, *, multiline: bool | None, settings: Settings,
                       on_text: Callable[[str], None] | None = None) -> str:
        """The completion for a `codefill.lsp.context.CompletionContext`; raises CompletionFailed.
        `on_text` sees the text received so far after every chunk.

        The whole request, model lookup included, gets `timeout_ms`: a completion that
        comes later than that is no use to someone typing."""
        try:
            async with asyncio.timeout(settings.timeout_ms / 1000):
                return await self._complete(ctx, multiline, settings, on_text)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise _transport_failure(exc, settings) from exc

    async def _complete(self, ctx: Any, multiline: bool | None, settings: Settings,
                        on_text: Callable[[str], None] | None) -> str:
        model = settings.model or await self._first_model(settings)
        cut: RawCut | None = None
        suffix: str | None = None
        codefill: CodefillFields | None = None
        if settings.raw_fim_template:
            from codefill.lsp.context import render_prompt

            prompt = render_prompt(ctx, settings.raw_fim_template)
            cut = RawCut(settings.raw_fim_template, bool(multiline))
        else:
            prompt, suffix = ctx.prefix, ctx.suffix
            codefill = CodefillFields(
                repo_name=ctx.repo_name,
                path=ctx.path,
                language=ctx.language,  # the server's syntax-aware post-processing parses with it
                files=ctx.files,
                multiline=multiline,
                # The server ends the generation there with the whole lines written: a partial
                # answer in time beats a whole one after this client has given up on it.
                max_time_ms=max(1, settings.timeout_ms * 9 // 10),
            )
        body = CompletionBody(model, prompt, settings.max_tokens, settings.temperature, stream=True,
                              suffix=suffix, codefill=codefill).to_json()
        refused = self._refused.setdefault(settings.url, set())
        while True:
            if "codefill" in body:
                for name in refused:
                    body["codefill"].pop(name, None)
            try:
                text = await self._stream(body, settings, cut, on_text)
                break
            except _RefusedField as exc:
                # A server from before these fields refuses them (it still reads the
                # language from `path`); the request goes again without the field.
                log.info("%s does not take codefill.%s (an older codefill serve); sending without it",
                         settings.url, exc.name)
                refused.add(exc.name)
        return text.rstrip() if cut is not None else text

    async def _stream(self, body: dict[str, Any], settings: Settings, cut: RawCut | None,
                      on_text: Callable[[str], None] | None) -> str:
        text = ""
        url = f"{api_root(settings.url)}/completions"
        async with self._client().stream("POST", url, json=body, headers=_headers(settings)) as resp:
            if resp.status_code != 200:
                raw = (await resp.aread()).decode("utf-8", "replace")
                if resp.status_code == 400:
                    for name in OPTIONAL_FIELDS:
                        if name in (body.get("codefill") or {}) and _refuses_field(raw, f"codefill.{name}"):
                            raise _RefusedField(name)
                detail = error_message(raw)
                raise CompletionFailed.from_status(f"{url} answered {resp.status_code}: {detail}",
                                                   resp.status_code, settings.url)
            lines = resp.aiter_lines()
            finished = True
            try:
                async for chunk in sse_chunks(lines):
                    for choice in chunk.get("choices") or []:
                        text += choice.get("text") or ""
                    done = False
                    if cut is not None:
                        text, done = cut.cut(text)
                    if on_text is not None:
                        on_text(text)
                    if done:  # leaving the stream now spares the server the rest
                        finished = False
                        break
            except StreamError as exc:
                raise CompletionFailed(f"{url} {exc}", url=settings.url) from exc
            if finished:
                await _drain(lines)
        return text

    async def next_edit(self, body: NextEditBody, settings: Settings) -> dict[str, Any]:
        """The server's next edit (`/v1/next_edit`: the rewritten `window` and its `edits`); raises
        CompletionFailed like `complete`. `body.model` empty: the server's first model. The body
        carries the recent edits (codefill.lsp.edit_history): they go to `url` and nowhere else."""
        try:
            async with asyncio.timeout(settings.timeout_ms / 1000):
                if not body.model:
                    body = dataclasses.replace(body, model=settings.model or await self._first_model(settings))
                return await request_next_edit(self._client(), settings.url, body, settings.api_key)
        except NextEditError as exc:
            if exc.status is None:
                raise CompletionFailed(str(exc), url=settings.url) from exc
            raise CompletionFailed.from_status(str(exc), exc.status, settings.url) from exc
        except (TimeoutError, httpx.HTTPError) as exc:
            raise _transport_failure(exc, settings) from exc

    async def _first_model(self, settings: Settings) -> str:
        root = api_root(settings.url)
        cache_key = (root, settings.api_key)
        if cache_key in self._models:
            return self._models[cache_key]
        resp = await self._client().get(f"{root}/models", headers=_headers(settings))
        if resp.status_code != 200:
            raise CompletionFailed.from_status(f"{root}/models answered {resp.status_code}: "
                                               f"{error_message(resp.text)}", resp.status_code, settings.url)
        try:
            model = str(resp.json()["data"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise CompletionFailed(f"{root}/models lists no model; set `model`", url=settings.url) from exc
        log.info("using model %r, the first that %s lists", model, root)
        self._models[cache_key] = model
        return model


# `codefill` fields newer than the first servers: a server that refuses one still serves without it.
OPTIONAL_FIELDS = ("language", "max_time_ms")


class _RefusedField(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuses_field(raw: str, name: str) -> bool:
    """The OpenAI-shaped error body refuses the field `name` as unsupported."""
    try:
        err = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return False
    if not isinstance(err, dict):
        return False
    message = str(err.get("message") or "")
    return err.get("param") == name or ("unsupported field" in message and name in message)


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read to the end of a finished stream: a connection whose response was read to the
    end is reused for the next completion, one left unread is closed. A server that
    keeps the stream open after [DONE] is not waited for."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async for _ in lines:
                pass
    except TimeoutError:
        log.debug("the server kept the stream open after [DONE]; closing it")


def _headers(settings: Settings) -> dict[str, str]:
    return auth_headers(settings.api_key)


def _transport_failure(exc: Exception, settings: Settings) -> CompletionFailed:
    """A request that ran out of its `timeout_ms` or never got an HTTP answer, in the terms the
    editor status tells the user (a wrong `url` reads differently from a busy server)."""
    if isinstance(exc, TimeoutError):
        return CompletionFailed(f"no answer from {settings.url} within {settings.timeout_ms} ms",
                                kind="timeout", url=settings.url)
    kind = "unreachable" if isinstance(exc, _UNREACHABLE) else "error"
    return CompletionFailed(f"request to {settings.url} failed: {type(exc).__name__}: {exc}", kind=kind,
                            url=settings.url)
