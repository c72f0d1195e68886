"""Tiny in-process fake OpenAI-compatible servers, for tests of evaluation clients
and scripts (no model).

`fake_app` answers `/v1/completions` for known infilling cases:

* FIM the codefill way (`prompt` + `suffix`), or
* a raw FIM prompt built by one of codefill's templates (`raw_templates`), e.g.
  `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>`.

A "perfect" server answers with the case's middle (a raw prompt gets `raw_tail`
appended, as a model that keeps generating past the middle would); a "garbage"
server answers with text that never passes. With `raw_off_tail`, a request with
`"codefill": {"postprocess": false}` gets that appended too (the model's raw text
going on past the middle); with `cut_middle_lines` N, the post-processed answer of a
perfect server keeps only the middle's first N lines (a post-processor that cut too
early). Every request body is appended to
`log`. `FakeServer` runs an app with uvicorn in a thread on a free port.

`fake_chat_app` answers `/v1/chat/completions` (the instruct benchmarks) with
whatever its `answer(user_message, nth)` returns, `nth` counting earlier requests
with the same message from 0; None makes it answer 500. `chat_reply` wraps code
in the prose and extra code blocks a chat model adds around its solution.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping

DEFAULT_RAW_TAIL = "\n@@@ not python @@@\n"
GARBAGE = "    @@@ garbage @@@"


def fake_app(
    mode: str,
    name: str,
    middles: Mapping[tuple[str, str], str],
    log: list[dict],
    *,
    raw_templates: Iterable[str] = ("qwen",),
    raw_tail: str = DEFAULT_RAW_TAIL,
    raw_off_tail: str | None = None,
    cut_middle_lines: int | None = None,
):
    """`middles` maps (prefix, suffix) to the middle; `mode` is "perfect" or "garbage"."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    from codefill.model.templates.fim import get_fim_template

    if mode not in ("perfect", "garbage"):
        raise ValueError(mode)
    templates = [get_fim_template(t) for t in raw_templates]
    control = tuple(tok for t in templates for tok in t.required_tokens)
    raw_index: dict[str, tuple[str, str]] = {}  # built on the first raw request

    def raw_lookup(prompt: str) -> tuple[str, str] | None:
        if not raw_index:
            for t in templates:
                for prefix, suffix in middles:
                    raw_index[t.build(prefix, suffix).text] = (prefix, suffix)
        return raw_index.get(prompt)

    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "max_model_len": 4096}]}

    @app.post("/v1/completions")
    async def completions(body: dict):
        log.append(body)
        prompt = body["prompt"]
        if "suffix" in body:  # codefill-style FIM
            key: tuple[str, str] | None = (prompt, body["suffix"])
            raw = False
        else:  # a hand-built FIM prompt
            if not any(tok in prompt for tok in control):
                return JSONResponse({"error": {"message": "not a FIM prompt"}}, status_code=400)
            key = raw_lookup(prompt)
            raw = True
        middle = middles.get(key) if key is not None else None
        if middle is None:
            return JSONResponse({"error": {"message": "unknown case"}}, status_code=400)
        raw_off = (raw_off_tail is not None and not raw
                   and (body.get("codefill") or {}).get("postprocess") is False)
        tail = raw_off_tail if raw_off else ""
        if mode == "perfect":
            # A raw server keeps generating past the middle (as a model does): the
            # client-side cut must remove the rest, or the program breaks.
            if raw:
                text = middle + raw_tail
            elif raw_off or cut_middle_lines is None:
                text = middle + tail
            else:
                text = "\n".join(middle.split("\n")[:cut_middle_lines])
        else:
            text = GARBAGE + tail
        tokens = max(1, len(text) // 4)
        usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": tokens,
                 "total_tokens": len(prompt) // 4 + tokens}
        if not body.get("stream"):
            return {"id": "x", "object": "text_completion", "model": body["model"], "usage": usage,
                    "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}]}

        async def events():
            pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
            for i, piece in enumerate(pieces):
                await asyncio.sleep(0.001)
                chunk = {"id": "x", "object": "text_completion", "model": body["model"],
                         "choices": [{"index": 0, "text": piece,
                                      "finish_reason": "stop" if i == len(pieces) - 1 else None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'id': 'x', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def chat_reply(code: str) -> str:
    """A chat model's answer around `code`: prose, the code block, then a usage block."""
    return (
        "Sure! Here is a self-contained Python script that solves the problem:\n\n"
        f"```python\n{code.rstrip()}\n```\n\n"
        "It works in one pass. Example usage:\n\n"
        "```python\nprint('example')\n```\n"
    )


def fake_chat_app(name: str, answer: Callable[[str, int], str | None], log: list[dict]):
    """`/v1/models` and a non-streaming `/v1/chat/completions` that replies `answer(message, nth)`."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    asked: dict[str, int] = {}  # user message -> requests seen (one event loop: no lock needed)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "max_model_len": 4096}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        log.append(body)
        message = body["messages"][-1]["content"]
        nth = asked.get(message, 0)
        asked[message] = nth + 1
        text = answer(message, nth)
        if text is None:
            return JSONResponse({"error": {"message": "fake server error", "type": "server_error"}},
                                status_code=500)
        tokens = max(1, len(text) // 4)
        usage = {"prompt_tokens": len(message) // 4, "completion_tokens": tokens,
                 "total_tokens": len(message) // 4 + tokens}
        return {"id": "chat-x", "object": "chat.completion", "model": body["model"], "usage": usage,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop", "logprobs": None}]}

    return app


class FakeServer:
    """`with FakeServer(app) as s: ... s.url ...` (uvicorn in a daemon thread)."""

    def __init__(self, app):
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def fake_echo_app(name: str, log: list[dict], text: str = "x = 1", delay_s: float = 0.005, fail_every: int = 0,
                  drafts: tuple[int, int] | None = None):
    """Answers every `/v1/completions` request with `text` (streamed in pieces after `delay_s`),
    for load tests; each request is logged with its arrival time (`_t`). With `fail_every` N,
    every Nth request gets a 500. With `drafts` (proposed, accepted), each request adds them to
    vLLM's speculative decoding counters on `/metrics`, laid out as vLLM writes them."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

    app = FastAPI()

    if drafts is not None:
        @app.get("/metrics")
        async def metrics():
            n = len(log)
            labels = f'{{engine="0",model_name="/models/{name}"}}'
            lines = []
            for metric, per_request in (("draft", drafts[0]), ("accepted", drafts[1])):
                full = f"vllm:spec_decode_num_{metric}_tokens"
                lines += [f"# TYPE {full}_total counter", f"{full}_total{labels} {float(n * per_request)}",
                          f"# TYPE {full}_created gauge", f"{full}_created{labels} 1.7962814610128114e+09"]
            return PlainTextResponse("\n".join(lines) + "\n")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(body: dict):
        log.append({**body, "_t": time.monotonic()})
        if fail_every and len(log) % fail_every == 0:
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        usage = {"prompt_tokens": len(body["prompt"]) // 4, "completion_tokens": 3, "total_tokens": 0}

        async def events():
            await asyncio.sleep(delay_s)
            for piece in (text[:2], text[2:]):
                chunk = {"id": "x", "object": "text_completion", "model": name,
                         "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'id': 'x', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
