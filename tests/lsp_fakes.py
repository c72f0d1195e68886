"""A deterministic fake FIM server for the language server's tests.

`FimFake` answers `/v1/models` and streaming `/v1/completions` with a fixed text
(or `answer(body)`), and records every request: its body and what became of it —
"completed", "aborted" (the client went away before the end: what codefill serve
turns into an engine abort) or "error". Knobs, changeable while it runs:

* `status`: answer every completion with this HTTP status (500: a broken server);
* `first_chunk_delay_s`: wait this long after the response headers (a hanging model);
* `chunk_delay_s`: pause between chunks of `chunk_chars` characters (a slow model,
  for cancellation tests).

`/v1/next_edit` answers `next_edits` (a list of `{"range", "text"}`) after `next_edit_delay_s`,
recording each body in `next_edit_requests` and its outcome ("completed" or "aborted", the
client gone before the answer) in `next_edit_outcomes`; after `next_edit_hang_after` answers
(None: never) it answers no more, until the client goes.

Run it with `tests.fakes.FakeServer(fake.app())`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the string annotation here

MODEL = "fake-fim"
POLL_S = 0.01


@dataclass
class FakeRequest:
    body: dict[str, Any]
    authorization: str | None = None
    outcome: str = "streaming"  # -> completed | aborted | error
    sent: str = ""  # the text sent before the end
    ended: threading.Event = field(default_factory=threading.Event)

    def finish(self, outcome: str) -> None:
        if self.outcome == "streaming":
            self.outcome = outcome
        self.ended.set()


class FimFake:
    def __init__(self, text: str = "return a + b", answer: Callable[[dict], str] | None = None) -> None:
        self.text = text
        self.answer = answer
        self.status = 200
        self.first_chunk_delay_s = 0.0
        self.chunk_delay_s = 0.0
        self.chunk_chars = 4
        self.requests: list[FakeRequest] = []
        self.model_list_calls = 0
        self.next_edits: list[dict[str, Any]] = []
        self.next_edit_delay_s = 0.0
        self.next_edit_hang_after: int | None = None
        self.next_edit_requests: list[dict[str, Any]] = []
        self.next_edit_outcomes: list[str] = []

    def reset(self, text: str | None = None) -> None:
        self.requests.clear()
        self.status = 200
        self.first_chunk_delay_s = 0.0
        self.chunk_delay_s = 0.0
        self.answer = None
        self.next_edits = []
        self.next_edit_delay_s = 0.0
        self.next_edit_hang_after = None
        self.next_edit_requests.clear()
        self.next_edit_outcomes.clear()
        if text is not None:
            self.text = text

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[FakeRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} requests, the fake got {len(self.requests)}")
            time.sleep(POLL_S)
        return self.requests

    def app(self):
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse, StreamingResponse

        app = FastAPI()
        fake = self

        @app.get("/v1/models")
        async def models():
            fake.model_list_calls += 1
            return {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 4096}]}

        @app.post("/v1/next_edit")
        async def next_edit(body: dict, request: Request):
            fake.next_edit_requests.append(body)
            hang = (fake.next_edit_hang_after is not None
                    and fake.next_edit_outcomes.count("completed") >= fake.next_edit_hang_after)
            deadline = float("inf") if hang else time.monotonic() + fake.next_edit_delay_s
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    fake.next_edit_outcomes.append("aborted")
                    return JSONResponse({}, status_code=499)
                await asyncio.sleep(POLL_S)
            fake.next_edit_outcomes.append("completed")
            return {"id": "nextedit-fake", "object": "next_edit", "model": body.get("model"),
                    "window": body["window"], "edits": list(fake.next_edits), "finish_reason": "stop"}

        @app.post("/v1/completions")
        async def completions(body: dict, request: Request):
            record = FakeRequest(body, request.headers.get("authorization"))
            fake.requests.append(record)
            if fake.status != 200:
                record.finish("error")
                return JSONResponse({"error": {"message": "fake failure", "type": "server_error"}},
                                    status_code=fake.status)
            text = fake.answer(body) if fake.answer else fake.text

            async def gone(seconds: float) -> bool:
                """Sleep, watching for the client to go away."""
                deadline = time.monotonic() + seconds
                while True:
                    if await request.is_disconnected():
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

            async def events():
                try:
                    if await gone(fake.first_chunk_delay_s):
                        record.finish("aborted")
                        return
                    pieces = [text[i:i + fake.chunk_chars] for i in range(0, len(text), fake.chunk_chars)]
                    for i, piece in enumerate(pieces):
                        if i and await gone(fake.chunk_delay_s):
                            record.finish("aborted")
                            return
                        chunk = {"id": "fake", "object": "text_completion", "model": body.get("model"),
                                 "choices": [{"index": 0, "text": piece,
                                              "finish_reason": "stop" if i == len(pieces) - 1 else None}]}
                        yield f"data: {json.dumps(chunk)}\n\n"
                        record.sent += piece
                    yield "data: [DONE]\n\n"
                    record.finish("completed")
                finally:
                    record.finish("aborted")  # no-op once finished; else the stream was torn down

            return StreamingResponse(events(), media_type="text/event-stream")

        return app
