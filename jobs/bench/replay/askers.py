"""The three ways of asking for a completion that the replay compares.

* `LspAsker`: the real `codefill lsp`, driven as an editor drives it: didOpen,
  incremental didChange per keystroke, textDocument/inlineCompletion (triggerKind
  Automatic) at pauses, `$/cancelRequest` for the request a newer one supersedes.
* `PlainAsker`: what llama.vim or a minimal plugin sends: the last 2000 characters
  before the cursor and the next 500 after it, straight to /v1/completions with
  `suffix`; no context from other files, no cache; superseding closes the stream.
* `RawAsker`: the same window to a server without `suffix` (vLLM's own), with the
  FIM prompt built here from one of codefill's templates and the answer cut here.

Each answer comes back as an inline completion item (`judge.Item`). The HTTP clients
make the one a plain client would show: the text, at the place it was asked for.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from codefill.jobs.bench.replay.judge import Item
from codefill.jobs.bench.replay.lsp_client import LspClient, LspError
from codefill.jobs.bench.replay.positions import position_of

log = logging.getLogger(__name__)

PLAIN_PREFIX_CHARS = 2000
PLAIN_SUFFIX_CHARS = 500
STATS_COMMAND = "codefill.stats"


@dataclass
class Asking:
    """One request in flight: `task` gives the item, or None for "nothing"."""

    task: asyncio.Task
    request_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Asker(abc.ABC):
    name: str
    url: str  # the completion server whose /metrics tell what the engine did

    async def start(self, workspaces: list[str]) -> None:  # noqa: B027 - most need nothing
        pass

    async def open(self, uri: str, language: str, text: str) -> None:  # noqa: B027
        pass

    async def edit(self, uri: str, version: int, at: tuple[int, int], text: str) -> None:  # noqa: B027
        """`text` inserted at `at` (the editor's incremental change)."""

    @abc.abstractmethod
    def ask(self, uri: str, version: int, document: str, cursor: int) -> Asking: ...

    async def cancel(self, asking: Asking) -> None:
        asking.task.cancel()

    async def close(self, uri: str) -> None:  # noqa: B027
        pass

    async def counters(self) -> dict[str, Any] | None:
        return None

    async def stop(self) -> None:  # noqa: B027
        pass


def _quiet(task: asyncio.Task) -> None:
    """A request given up on may still fail later; nobody is waiting for it any more."""
    if not task.cancelled():
        task.exception()


class LspAsker(Asker):
    def __init__(self, url: str, *, name: str = "codefill lsp", args: list[str] | None = None,
                 log_file: str | None = None, command: list[str] | None = None) -> None:
        self.name = name
        self.url = url
        self._args = list(args or [])
        self._log_file = log_file
        self._command = command or [str(Path(sys.executable).with_name("codefill")), "lsp"]
        self.client: LspClient | None = None
        self._stderr: Any = None

    async def start(self, workspaces: list[str]) -> None:
        cmd = [*self._command, "--url", self.url, "--no-telemetry", *self._args]
        self._stderr = open(self._log_file, "ab") if self._log_file else None  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.client = await LspClient.start(cmd, stderr=self._stderr or asyncio.subprocess.DEVNULL, env=env)
        folders = [{"uri": Path(w).as_uri(), "name": Path(w).name} for w in dict.fromkeys(workspaces)]
        result = await self.client.request("initialize", {
            "processId": os.getpid(),
            "clientInfo": {"name": "codefill-bench-replay"},
            "rootUri": folders[0]["uri"] if folders else None,
            "workspaceFolders": folders or None,
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "workspace": {"workspaceFolders": True, "executeCommand": {}},
                "textDocument": {"synchronization": {"didSave": False}, "inlineCompletion": {},
                                 "completion": {}},
                "window": {"workDoneProgress": False},
            },
        }, timeout=120)
        if (result or {}).get("capabilities", {}).get("inlineCompletionProvider") in (None, False):  # {} is yes
            raise RuntimeError("the language server does not offer textDocument/inlineCompletion")
        self.client.notify("initialized", {})

    def _client(self) -> LspClient:
        if self.client is None:
            raise RuntimeError("the language server is not started")
        return self.client

    async def open(self, uri: str, language: str, text: str) -> None:
        self._client().notify("textDocument/didOpen", {
            "textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}})

    async def edit(self, uri: str, version: int, at: tuple[int, int], text: str) -> None:
        pos = {"line": at[0], "character": at[1]}
        self._client().notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": pos, "end": pos}, "text": text}]})

    def ask(self, uri: str, version: int, document: str, cursor: int) -> Asking:
        line, character = position_of(document, cursor)
        request_id, future = self._client().request_nowait("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},  # Automatic: typing, not a keyboard shortcut
        })
        task = asyncio.ensure_future(self._item(future, (line, character)))
        task.add_done_callback(_quiet)
        return Asking(task, request_id)

    @staticmethod
    async def _item(future: asyncio.Future, asked_at: tuple[int, int]) -> Item | None:
        try:
            result = await future
        except LspError as exc:
            raise RuntimeError(str(exc)) from exc
        items = result.get("items") if isinstance(result, dict) else result
        if not items:
            return None
        first = items[0]
        text = first.get("insertText")
        if isinstance(text, dict):  # a StringValue (snippet)
            text = text.get("value", "")
        rng = first.get("range")
        if rng is None:  # no range: the client inserts at the cursor, which was where it asked
            return Item(text or "", asked_at, asked_at)
        return Item(text or "", (rng["start"]["line"], rng["start"]["character"]),
                    (rng["end"]["line"], rng["end"]["character"]))

    async def cancel(self, asking: Asking) -> None:
        if asking.request_id is not None and not asking.task.done():
            self._client().cancel(asking.request_id)
        asking.task.cancel()

    async def close(self, uri: str) -> None:
        self._client().notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    async def counters(self) -> dict[str, Any] | None:
        """The server's `codefill.stats`; None when it has no such command (older servers)."""
        try:
            result = await self._client().request("workspace/executeCommand", {"command": STATS_COMMAND,
                                                                               "arguments": []}, timeout=10)
        except (LspError, TimeoutError, ConnectionError) as exc:
            log.info("no %s from the language server: %s", STATS_COMMAND, exc)
            return None
        return result if isinstance(result, dict) else None

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
            self.client = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class _HttpAsker(Asker):
    def __init__(self, url: str, *, name: str, model: str | None, max_tokens: int, api_key: str | None,
                 timeout_s: float, extra: dict[str, Any] | None = None) -> None:
        self.name = name
        self.url = url
        self.model = model
        self.max_tokens = max_tokens
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.extra = dict(extra or {})
        self._http: httpx.AsyncClient | None = None
        self.sent = 0  # requests that left for the server (not those cancelled in a debounce)

    async def start(self, workspaces: list[str]) -> None:
        from codefill.client.openai_http import api_root, auth_headers

        self._http = httpx.AsyncClient(timeout=self.timeout_s, headers=auth_headers(self.api_key))
        self._root = api_root(self.url)
        if self.model is None:
            from codefill.client.completions import first_model

            try:
                self.model = await first_model(self.url, self.api_key, client=self._http)
            except Exception as exc:  # noqa: BLE001 - one line, not a connection traceback
                raise RuntimeError(f"cannot reach {self.url}: {exc}") from exc

    def ask(self, uri: str, version: int, document: str, cursor: int) -> Asking:
        prefix = document[max(0, cursor - PLAIN_PREFIX_CHARS):cursor]
        suffix = document[cursor:cursor + PLAIN_SUFFIX_CHARS]
        at = position_of(document, cursor)
        task = asyncio.ensure_future(self._item(prefix, suffix, at))
        task.add_done_callback(_quiet)
        return Asking(task)

    async def _item(self, prefix: str, suffix: str, at: tuple[int, int]) -> Item | None:
        text = await self._stream(self._body(prefix, suffix))
        return Item(text, at, at) if text else None

    @abc.abstractmethod
    def _body(self, prefix: str, suffix: str) -> dict[str, Any]: ...

    def _cut(self, text: str) -> tuple[str, bool]:
        return text, False

    async def _stream(self, body: dict[str, Any]) -> str:
        from codefill.client.openai_http import error_message, sse_chunks

        assert self._http is not None
        text = ""
        self.sent += 1
        async with self._http.stream("POST", f"{self._root}/completions", json=body) as resp:
            if resp.status_code != 200:
                detail = error_message((await resp.aread()).decode("utf-8", "replace"))
                raise RuntimeError(f"{self.url} answered {resp.status_code}: {detail}")
            async for chunk in sse_chunks(resp.aiter_lines()):
                for choice in chunk.get("choices") or []:
                    text += choice.get("text") or ""
                text, done = self._cut(text)
                if done:  # leaving now spares the server the rest
                    break
        return text

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class PlainAsker(_HttpAsker):
    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, name=kw.pop("name", "plain client"), **kw)

    def _body(self, prefix: str, suffix: str) -> dict[str, Any]:
        return {"model": self.model, "prompt": prefix, "suffix": suffix, "max_tokens": self.max_tokens,
                "temperature": 0.0, "stream": True, **self.extra}


class RawAsker(_HttpAsker):
    def __init__(self, url: str, template: str, **kw: Any) -> None:
        from codefill.model.templates.fim import get_fim_template

        self.template = get_fim_template(template)  # an unknown name fails before anything starts
        super().__init__(url, name=kw.pop("name", f"raw vLLM ({template} prompt)"), **kw)
        self._given = dict(self.extra)

    async def start(self, workspaces: list[str]) -> None:
        await super().start(workspaces)
        # The FIM family's end tokens are how an answer ends. vLLM takes at most four stop
        # strings, and drops special tokens from the text unless told not to, so the ends
        # go as token ids, read from the server's own tokenizer. vLLM's default repetition
        # penalty (from the model's generation config) is not what an editor wants either.
        defaults: dict[str, Any] = {"repetition_penalty": 1.0}
        ids = await self._token_ids(self.template.stop_tokens)
        if ids:
            defaults["stop_token_ids"] = ids
        else:  # no /tokenize: the text keeps the special tokens, and the first four stop it
            defaults.update(skip_special_tokens=False, stop=list(self.template.stop_tokens)[:4])
        self.extra = {**defaults, **self._given}

    async def _token_ids(self, tokens: Any) -> list[int]:
        assert self._http is not None
        ids = []
        for token in tokens:
            try:
                resp = await self._http.post(f"{self._root.removesuffix('/v1')}/tokenize",
                                             json={"model": self.model, "prompt": token, "add_special_tokens": False})
                got = resp.json().get("tokens") if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                return []
            if got is None:
                return []
            if len(got) == 1:
                ids.append(int(got[0]))
        return ids

    def _body(self, prefix: str, suffix: str) -> dict[str, Any]:
        return {"model": self.model, "prompt": self.template.build(prefix, suffix).text,
                "max_tokens": self.max_tokens, "temperature": 0.0, "stream": True, **self.extra}

    def _cut(self, text: str) -> tuple[str, bool]:
        ends = [i for i in (text.find(s) for s in self.template.stop_tokens) if i >= 0]
        return (text[:min(ends)], True) if ends else (text, False)

    async def _item(self, prefix: str, suffix: str, at: tuple[int, int]) -> Item | None:
        text = (await self._stream(self._body(prefix, suffix))).rstrip()
        return Item(text, at, at) if text else None


async def settle(asking: Asking, timeout_s: float) -> None:
    """Wait a moment for a cancelled request to end, so its abort reaches the server
    before the next client's figures are read."""
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(asking.task), timeout_s)
