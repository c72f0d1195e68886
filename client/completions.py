"""Async HTTP clients of OpenAI-compatible `/v1/completions` servers, for evaluation.

* `complete_fim`: fill-in-the-middle the OpenAI way, `prompt` + `suffix` (what
  codefill serves; the server builds the model's FIM prompt).
* `complete_raw_fim`: a hand-written prompt string and no `suffix`, e.g.
  `qwen_fim_prompt(prefix, suffix)`; this is how vLLM's own OpenAI server is
  driven for FIM (it has no FIM template of its own).

Both default to temperature 0 (greedy) and return the text with the request's
latency and, when streaming, its time to first token (TTFT: time until the
first chunk that carries non-empty text, i.e. the first text a user would see).

* `chat_complete`: one non-streaming `/v1/chat/completions` request (the
  instruct benchmarks); it returns the assistant's text, latency, token usage
  and finish reason.

`complete_fim` and `chat_complete` ask for PRIORITY_BATCH (20) unless told otherwise
(`priority=None` asks for none): evaluation is batch work, and a codefill server puts an editor's
completions ahead of it. They ask in the `X-Codefill-Priority` header, which any other server
ignores, so the same call measures raw vLLM; a `priority` in `extra` is sent in the body as given
(and wins at codefill). `complete_raw_fim` asks for none unless given one.

`base_url` may be given with or without the trailing `/v1`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from codefill.client.request import CodefillFields, CompletionBody
from codefill.client.openai_http import PRIORITY_BATCH, StreamError, api_root, auth_headers, error_message, sse_chunks
from codefill.model.templates.fim_families import QWEN

DEFAULT_TIMEOUT_S = 300.0

QWEN_FIM_PREFIX, QWEN_FIM_SUFFIX, QWEN_FIM_MIDDLE = QWEN.required_tokens

# Qwen2.5(-Coder)'s vocabulary ids of its special tokens. A raw vLLM server
# takes stop tokens as ids (its `stop_token_ids` extension; stop *strings*
# would not work because vLLM drops special tokens from the text before
# matching them), and this client has no tokenizer to look them up in.
_QWEN_TOKEN_IDS: dict[str, int] = {
    "<|endoftext|>": 151643, "<|im_end|>": 151645, "<|fim_prefix|>": 151659, "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661, "<|fim_pad|>": 151662, "<|repo_name|>": 151663, "<|file_sep|>": 151664,
}
# The tokens codefill's Qwen template stops on; a KeyError here means the
# template gained a stop token whose id is missing above.
QWEN_FIM_STOP_TOKEN_IDS: tuple[int, ...] = tuple(sorted(_QWEN_TOKEN_IDS[t] for t in QWEN.stop_tokens))


def qwen_fim_prompt(prefix: str, suffix: str) -> str:
    """Qwen2.5-Coder file-level FIM prompt (prefix-suffix-middle order)."""
    return QWEN.build(prefix, suffix).text


class CompletionError(RuntimeError):
    def __init__(self, message: str, status_code: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.body = body


@dataclass
class CompletionResult:
    text: str
    latency_s: float  # request sent -> response (or stream) complete
    ttft_s: float | None  # streaming only: request sent -> first non-empty text
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    model: str | None


class _Client:
    """Use the caller's `httpx.AsyncClient`, or a one-off one."""

    def __init__(self, client: httpx.AsyncClient | None, timeout: float):
        self._given = client
        self._own: httpx.AsyncClient | None = None
        self._timeout = timeout

    async def __aenter__(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        self._own = httpx.AsyncClient(timeout=self._timeout)
        return self._own

    async def __aexit__(self, *exc: Any) -> None:
        if self._own is not None:
            await self._own.aclose()


async def list_models(
    base_url: str, api_key: str | None = None, *, client: httpx.AsyncClient | None = None,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """The model cards of `GET /v1/models` (vLLM and codefill add `max_model_len`, `root`)."""
    async with _Client(client, timeout) as c:
        resp = await c.get(f"{api_root(base_url)}/models", headers=auth_headers(api_key), timeout=timeout)
    if resp.status_code != 200:
        raise CompletionError(f"GET /v1/models: {resp.status_code} {error_message(resp.text)}",
                              resp.status_code, resp.text)
    return list(resp.json().get("data") or [])


async def first_model(
    base_url: str, api_key: str | None = None, *, client: httpx.AsyncClient | None = None,
) -> str:
    """The id of the first model the server lists."""
    models = await list_models(base_url, api_key, client=client)
    if not models:
        raise CompletionError(f"{base_url} serves no model")
    return str(models[0]["id"])


async def post_completion(
    base_url: str,
    body: dict[str, Any],
    *,
    api_key: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    priority: int | None = None,
) -> CompletionResult:
    """POST `/v1/completions` with `body` (streamed when `body["stream"]`); `priority` goes in
    the priority header."""
    url = f"{api_root(base_url)}/completions"
    headers = auth_headers(api_key, priority)
    stream = bool(body.get("stream"))
    async with _Client(client, timeout) as c:
        start = time.perf_counter()
        if not stream:
            resp = await c.post(url, json=body, headers=headers, timeout=timeout)
            latency = time.perf_counter() - start
            if resp.status_code != 200:
                raise CompletionError(f"POST /v1/completions: {resp.status_code} {error_message(resp.text)}",
                                      resp.status_code, resp.text)
            data = resp.json()
            choice = (data.get("choices") or [{}])[0]
            usage = data.get("usage") or {}
            return CompletionResult(
                text=choice.get("text") or "",
                latency_s=latency,
                ttft_s=None,
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                finish_reason=choice.get("finish_reason"),
                model=data.get("model"),
            )
        parts: list[str] = []
        ttft: float | None = None
        usage: dict[str, Any] = {}
        finish: str | None = None
        model: str | None = None
        async with c.stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                text = (await resp.aread()).decode("utf-8", errors="replace")
                raise CompletionError(f"POST /v1/completions: {resp.status_code} {error_message(text)}",
                                      resp.status_code, text)
            try:
                async for chunk in sse_chunks(resp.aiter_lines()):
                    model = chunk.get("model") or model
                    for choice in chunk.get("choices") or []:
                        if choice.get("index", 0) != 0:
                            continue
                        piece = choice.get("text") or ""
                        if piece:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            parts.append(piece)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                    if chunk.get("usage"):
                        usage = chunk["usage"]
            except StreamError as exc:
                raise CompletionError(f"stream error: {exc}", None, None) from exc
        latency = time.perf_counter() - start
    return CompletionResult(
        text="".join(parts),
        latency_s=latency,
        ttft_s=ttft,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=finish,
        model=model,
    )


async def complete_fim(
    url: str,
    model: str,
    prefix: str,
    suffix: str,
    max_tokens: int = 64,
    stop: str | Sequence[str] | None = None,
    api_key: str | None = None,
    *,
    stream: bool = False,
    temperature: float = 0.0,
    codefill: CodefillFields | Mapping[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    priority: int | None = PRIORITY_BATCH,
) -> CompletionResult:
    """FIM through `/v1/completions` with `suffix`; `codefill` is codefill's extension field
    (e.g. `CodefillFields(multiline=False)` or `{"postprocess": False}`), merged over a `codefill`
    object in `extra` (`--extra-body '{"codefill": {"rules": ...}}'` keeps its keys)."""
    body = CompletionBody(model, prefix, max_tokens, temperature, stop, stream, include_usage=stream, extra=extra,
                          suffix=suffix, codefill=codefill).to_json()
    return await post_completion(url, body, api_key=api_key, client=client, timeout=timeout, priority=priority)


async def complete_raw_fim(
    url: str,
    model: str,
    prompt_text: str,
    max_tokens: int = 64,
    stop: str | Sequence[str] | None = None,
    api_key: str | None = None,
    *,
    stream: bool = False,
    temperature: float = 0.0,
    stop_token_ids: Sequence[int] | None = None,
    extra: dict[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    priority: int | None = None,
) -> CompletionResult:
    """A hand-written FIM prompt string (e.g. `qwen_fim_prompt(...)`), no `suffix`.

    `stop_token_ids` is vLLM's extension field (leave it None for servers
    that do not accept it)."""
    body = CompletionBody(model, prompt_text, max_tokens, temperature, stop, stream, include_usage=stream,
                          extra=extra, stop_token_ids=stop_token_ids).to_json()
    return await post_completion(url, body, api_key=api_key, client=client, timeout=timeout, priority=priority)


@dataclass
class ChatResult:
    text: str  # the assistant message's content of the first choice
    latency_s: float  # request sent -> response received
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    model: str | None


def _message_text(content: Any) -> str:
    """A message's `content`: a string, None, or a list of typed parts (text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content if isinstance(part, dict))


async def post_chat_completion(
    base_url: str,
    body: dict[str, Any],
    *,
    api_key: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    priority: int | None = None,
) -> ChatResult:
    """POST `/v1/chat/completions` with `body` (not streamed); a non-200 answer raises
    `CompletionError` with the server's error message. `priority` goes in the priority header."""
    url = f"{api_root(base_url)}/chat/completions"
    async with _Client(client, timeout) as c:
        start = time.perf_counter()
        resp = await c.post(url, json=body, headers=auth_headers(api_key, priority), timeout=timeout)
        latency = time.perf_counter() - start
    if resp.status_code != 200:
        raise CompletionError(f"POST /v1/chat/completions: {resp.status_code} {error_message(resp.text)}",
                              resp.status_code, resp.text)
    data = resp.json()
    choice = (data.get("choices") or [{}])[0]
    usage = data.get("usage") or {}
    return ChatResult(
        text=_message_text((choice.get("message") or {}).get("content")),
        latency_s=latency,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=choice.get("finish_reason"),
        model=data.get("model"),
    )


async def chat_complete(
    url: str,
    model: str,
    messages: Sequence[dict[str, Any]],
    max_tokens: int = 512,
    api_key: str | None = None,
    *,
    temperature: float = 0.0,
    top_p: float | None = None,
    extra: dict[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    priority: int | None = PRIORITY_BATCH,
) -> ChatResult:
    """One chat completion; `top_p` is sent only when given, `extra` is merged into the body."""
    body: dict[str, Any] = {"model": model, "messages": list(messages), "max_tokens": max_tokens,
                            "temperature": temperature}
    if top_p is not None:
        body["top_p"] = top_p
    if extra:
        body.update(extra)
    return await post_chat_completion(url, body, api_key=api_key, client=client, timeout=timeout,
                                      priority=priority)


# Sent to raw vLLM with every request: vLLM's server otherwise takes sampling
# defaults from the model's generation_config.json (a repetition penalty of
# 1.05 for some Qwen checkpoints), which codefill does not apply. With
# temperature 0 (greedy), top_p/top_k do not matter.
RAW_NEUTRAL_SAMPLING = {"repetition_penalty": 1.0}


def parse_stop_ids(text: str) -> list[int]:
    """`--raw-stop-token-ids` as given on a command line: "1,2,3", or "none"."""
    if text.strip().lower() in ("", "none"):
        return []
    return [int(x) for x in text.split(",") if x.strip()]


def add_server_pair_args(p: Any) -> None:
    """The command-line options every codefill-vs-raw-vLLM script takes."""
    p.add_argument("--codefill-url", required=True, help="codefill server, e.g. http://127.0.0.1:8000")
    p.add_argument("--raw-url", required=True, help="vLLM's own OpenAI server, e.g. http://127.0.0.1:8001")
    p.add_argument("--codefill-model", help="model name at codefill (default: first of GET /v1/models)")
    p.add_argument("--raw-model", help="model name at raw vLLM (default: first of GET /v1/models)")
    p.add_argument("--codefill-api-key", default=None)
    p.add_argument("--raw-api-key", default=None)
