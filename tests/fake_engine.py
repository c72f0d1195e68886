"""An engine the test holds by the hand, for in-process tests of the HTTP layer.

It tokenizes with the real Qwen tokenizer, writes "x" per token, and can be told
to hold every request (to keep requests in flight), to die (as a vLLM engine
core process does when it is killed), or to fail its next starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from codefill.model.engines import Delta, Engine, EngineError, EngineInfo, SamplingOptions


class ControlledEngine(Engine):
    name = "controlled"

    def __init__(self, tokenizer: Any, *, max_model_len: int = 2048, fail_starts: int = 0) -> None:
        self._tokenizer = tokenizer
        self._info = EngineInfo(model_path="fake", max_model_len=max_model_len, engine=self.name)
        self.fail_starts = fail_starts
        self.starts = 0
        self.started = False
        self.dead = False
        self.in_flight: set[str] = set()
        self.held = asyncio.Event()  # set: requests are released
        self.held.set()
        # Tokens each request writes before it waits for `held` (so a stream can be under way).
        self.free_tokens = 0
        self._death = asyncio.Event()

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        self.starts += 1
        await asyncio.sleep(0)
        if self.starts <= self.fail_starts:
            raise EngineError(f"start #{self.starts} failed on purpose")
        self.started = True

    async def shutdown(self) -> None:
        self.started = False

    def hold(self) -> None:
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def die(self) -> None:
        self.dead = True
        self._death.set()

    async def generate(
        self, prompt_token_ids: Sequence[int], options: SamplingOptions, request_id: str
    ) -> AsyncIterator[Delta]:
        if not self.is_healthy():
            raise EngineError("the engine is dead")
        self.in_flight.add(request_id)
        try:
            for i in range(1, options.max_tokens + 1):
                if i <= self.free_tokens and not self.dead:
                    yield Delta("x", len(prompt_token_ids), i, "length" if i == options.max_tokens else None)
                    continue
                released = asyncio.ensure_future(self.held.wait())
                died = asyncio.ensure_future(self._death.wait())
                await asyncio.wait({released, died}, return_when=asyncio.FIRST_COMPLETED)
                released.cancel()
                died.cancel()
                if self.dead:
                    raise EngineError("the engine process died")
                finished = "length" if i == options.max_tokens else None
                yield Delta("x", len(prompt_token_ids), i, finished)
        finally:
            self.in_flight.discard(request_id)

    async def abort(self, request_id: str) -> None:
        self.in_flight.discard(request_id)

    def num_in_flight(self) -> int:
        return len(self.in_flight)

    def is_healthy(self) -> bool:
        return self.started and not self.dead
