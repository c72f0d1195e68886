"""Requests to the served model, many at a time, cached so that a rerun skips what is done.

Every request is a `GenRequest` (a few-shot prompt or one user message, with
its sampling settings). Its key is the SHA-256 of exactly what is sent (API,
model, prompt or messages, max_tokens, temperature, stop, seed), so the key
of an item is stable across runs, and changing the model or the sampling makes
new keys instead of reusing answers that no longer fit.

`ResponseStore` is an append-only JSON Lines file of {key, kind, item, text,
finish_reason}: one line is written (and flushed) as each answer arrives, so a
run killed at any point loses at most the requests in flight; a torn last line
is ignored on reading. `generate_all` sends only the requests whose key is
not in the store, `concurrency` at a time, with a progress bar, retrying
transient failures (connection errors, 408/429/5xx) with backoff. A request
that still fails ends the stage with `GenerationError` after the answers that
did arrive are stored: the same command continues from there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from codefill.client.completions import CompletionError, api_root
from codefill.jobs.instruct_data.prompts import FewShotPrompt
from codefill.client.openai_http import PRIORITY_BATCH, auth_headers

Api = Literal["completions", "chat"]
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class GenerationError(RuntimeError):
    pass


@dataclass(frozen=True)
class GenRequest:
    kind: str  # "instruction", "response", "evolution": for the store and the report
    item: str  # the id of the item it is for
    prompt: FewShotPrompt
    max_tokens: int
    temperature: float
    seed: int | None = None

    def body(self, api: Api, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if api == "completions":
            body["prompt"] = self.prompt.as_text()
            if self.prompt.stop:
                body["stop"] = list(self.prompt.stop)
        else:
            body["messages"] = self.prompt.as_messages()
        if self.seed is not None:
            body["seed"] = self.seed
        return body

    def key(self, api: Api, model: str) -> str:
        payload = json.dumps({"api": api, **self.body(api, model)}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Answer:
    text: str
    finish_reason: str | None


class ResponseStore:
    """The answers received so far, by request key (an append-only JSONL file)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._answers: dict[str, Answer] = {}
        if self.path.is_file():
            with open(self.path, "rb") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue  # a line cut short when the run was killed
                    if isinstance(row, dict) and "key" in row and "text" in row:
                        self._answers[row["key"]] = Answer(row["text"], row.get("finish_reason"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None

    def __contains__(self, key: str) -> bool:
        return key in self._answers

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> Answer | None:
        return self._answers.get(key)

    def put(self, key: str, answer: Answer, **meta: Any) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
            # A torn last line from a killed run must not swallow the next record.
            if self._file.tell() > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        self._file.write("\n")
        row = {"key": key, **meta, "text": answer.text, "finish_reason": answer.finish_reason}
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        self._answers[key] = answer

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ModelClient:
    """An OpenAI-compatible server's /v1/completions or /v1/chat/completions."""

    def __init__(self, url: str, model: str, *, api: Api = "completions", api_key: str | None = None,
                 timeout_s: float = 600.0, retries: int = 4, backoff_s: float = 1.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url, self.model, self.api, self.api_key = api_root(url), model, api, api_key
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "ModelClient":
        self._client = httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport,
                                         limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, body: dict[str, Any]) -> Answer:
        assert self._client is not None, "use `async with ModelClient(...)`"
        path = "/completions" if self.api == "completions" else "/chat/completions"
        # Batch work: an editor's completions on the same codefill server go first
        # (server/priorities.py); a header, which other servers ignore, and not part of the body.
        headers = auth_headers(self.api_key, PRIORITY_BATCH)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = await self._client.post(self.url + path, json=body, headers=headers)
            except httpx.TransportError as exc:
                last = CompletionError(f"POST {path}: {type(exc).__name__}: {exc}")
                continue
            if resp.status_code in RETRY_STATUS:
                last = CompletionError(f"POST {path}: {resp.status_code} {resp.text[:300]}", resp.status_code)
                continue
            if resp.status_code != 200:
                raise CompletionError(f"POST {path}: {resp.status_code} {resp.text[:500]}", resp.status_code)
            data = resp.json()
            choice = (data.get("choices") or [{}])[0]
            if self.api == "completions":
                text = choice.get("text") or ""
            else:
                content = (choice.get("message") or {}).get("content")
                text = content if isinstance(content, str) else "".join(
                    p.get("text") or "" for p in content or [] if isinstance(p, dict))
            return Answer(text, choice.get("finish_reason"))
        raise last or CompletionError(f"POST {path} failed")


async def _generate_all(client: ModelClient, requests: Sequence[GenRequest], store: ResponseStore, *,
                        concurrency: int, progress: bool, desc: str) -> dict[str, Answer]:
    keys = [r.key(client.api, client.model) for r in requests]
    todo: dict[str, GenRequest] = {}
    for key, req in zip(keys, requests):
        if key not in store and key not in todo:
            todo[key] = req
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=desc, unit="req", file=sys.stderr, leave=False)
    queue: asyncio.Queue[tuple[str, GenRequest]] = asyncio.Queue()
    for item in todo.items():
        queue.put_nowait(item)
    failures: list[str] = []

    async def worker() -> None:
        while not failures:
            try:
                key, req = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                answer = await client.send(req.body(client.api, client.model))
            except Exception as exc:  # noqa: BLE001 - reported with what is left to do
                failures.append(f"{req.kind} for {req.item}: {exc}")
                return
            store.put(key, answer, kind=req.kind, item=req.item)
            if bar is not None:
                bar.update(1)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(todo) or 1)))))
    finally:
        if bar is not None:
            bar.close()
    if failures:
        done = sum(1 for k in todo if k in store)
        raise GenerationError(
            f"{desc}: {failures[0]} ({done} of {len(todo)} new requests answered and saved in {store.path}; "
            "run the same command again to continue)")
    return {key: store.get(key) for key in keys}  # type: ignore[misc]


def generate_all(client: ModelClient, requests: Sequence[GenRequest], store: ResponseStore, *,
                 concurrency: int = 8, progress: bool = False, desc: str = "generating") -> list[Answer]:
    """The answer to every request, in order: from the store, else from the server (then stored)."""
    async def run() -> list[Answer]:
        async with client:
            by_key = await _generate_all(client, requests, store, concurrency=concurrency,
                                         progress=progress, desc=desc)
        return [by_key[r.key(client.api, client.model)] for r in requests]

    return asyncio.run(run())


def new_request_count(client: ModelClient, requests: Sequence[GenRequest], store: ResponseStore) -> int:
    return len({k for k in (r.key(client.api, client.model) for r in requests) if k not in store})
