"""Running engine requests for the routes: one choice, or several merged.

A choice stream owns its engine request: whatever ends it (the last token,
a post-processing stop, the client leaving, an error) the engine request is
aborted in `finally` unless it already finished, so nothing stays in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from codefill.model.engines import Delta, Engine, EngineError, EngineRequestError, SamplingOptions
from codefill.server.errors import APIError
from codefill.server.metrics import Metrics
from codefill.server.priorities import Admission
from codefill.server.state import engine_error_to_api


@dataclass
class ChoiceEvent:
    index: int
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


# The finish_reason of a choice that its time budget (`codefill.max_time_ms`) ended.
TIME_LIMIT = "time_limit"


class TextFilter:
    """Post-processing as seen by a choice stream: feed deltas, flush at the end."""

    def feed(self, delta: str) -> tuple[str, bool]:
        return delta, False

    def finish(self) -> str:
        return ""

    def finish_early(self) -> str:
        """What is left to emit when the time budget ends the generation mid-way."""
        return self.finish()

    def may_end_early(self) -> None:
        """The generation has a time budget: emit only what finish_early would keep."""


async def choice_stream(
    engine: Engine,
    index: int,
    prompt_ids: Sequence[int],
    options: SamplingOptions,
    request_id: str,
    text_filter: TextFilter,
    metrics: Metrics,
    deadline: float | None = None,
    admission: Admission | None = None,
) -> AsyncIterator[ChoiceEvent]:
    """`deadline` (the event loop's clock): the time budget; then the generation ends
    with what the filter holds complete, `finish_reason` TIME_LIMIT. `admission`: the engine
    request waits for a slot first, in `options.priority` order (server/priorities.py); the
    wait counts against the budget."""
    finished = False
    prompt_tokens = len(prompt_ids)
    completion_tokens = 0
    cached_tokens = 0
    if deadline is not None:
        text_filter.may_end_early()
    admitted = False
    gen: AsyncIterator[Delta] | None = None
    try:
        if admission is not None:
            budget = asyncio.timeout_at(deadline)
            try:
                async with budget:
                    await admission.acquire(options.priority)
            except TimeoutError:
                if not budget.expired():
                    raise
                finished = True  # it never reached the engine
                yield ChoiceEvent(index, text_filter.finish_early(), TIME_LIMIT, prompt_tokens, 0)
                return
            admitted = True
        gen = engine.generate(prompt_ids, options, request_id)
        while True:
            budget = asyncio.timeout_at(deadline)
            try:
                async with budget:
                    delta = await anext(gen)
            except StopAsyncIteration:
                break
            except TimeoutError:
                if not budget.expired():
                    raise  # the engine's own, not the budget's
                await engine.abort(request_id)
                metrics.aborted.labels("time_budget").inc()
                finished = True
                yield ChoiceEvent(index, text_filter.finish_early(), TIME_LIMIT, prompt_tokens, completion_tokens)
                return
            completion_tokens = delta.completion_tokens
            prompt_tokens = delta.prompt_tokens
            if delta.cached_tokens is not None:
                cached_tokens = delta.cached_tokens
            text, stop_now = text_filter.feed(delta.text) if delta.text else ("", False)
            if stop_now and not delta.finished:
                await engine.abort(request_id)
                metrics.aborted.labels("postprocess_stop").inc()
                finished = True
                text += text_filter.finish()
                yield ChoiceEvent(index, text, "stop", prompt_tokens, completion_tokens)
                return
            if delta.finished:
                finished = True
                text += text_filter.finish()
                reason = "stop" if delta.finish_reason == "abort" else delta.finish_reason
                yield ChoiceEvent(index, text, reason, prompt_tokens, completion_tokens)
                return
            if text:
                yield ChoiceEvent(index, text, None, prompt_tokens, completion_tokens)
    except EngineRequestError as exc:
        raise APIError(400, str(exc), code="invalid_request") from exc
    except EngineError as exc:
        raise engine_error_to_api(exc) from exc
    finally:
        try:
            if gen is not None:
                await gen.aclose()
                if not finished:
                    # The client went away or something failed: free the engine request now.
                    metrics.aborted.labels("client_disconnect").inc()
                    await asyncio.shield(engine.abort(request_id))
        finally:
            if admitted:
                admission.release()  # type: ignore[union-attr]
        metrics.prompt_tokens.inc(prompt_tokens if gen is not None else 0)
        metrics.prompt_tokens_cached.inc(cached_tokens)
        metrics.generated_tokens.inc(completion_tokens)


async def merge_streams(streams: list[AsyncIterator[ChoiceEvent]]) -> AsyncIterator[ChoiceEvent]:
    """Interleave several choice streams as their events arrive."""
    if len(streams) == 1:
        async for event in streams[0]:
            yield event
        return
    queue: asyncio.Queue[ChoiceEvent | BaseException | None] = asyncio.Queue()

    async def pump(stream: AsyncIterator[ChoiceEvent]) -> None:
        try:
            async for event in stream:
                await queue.put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(s)) for s in streams]
    remaining = len(tasks)
    try:
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class FirstTokenTimer:
    def __init__(self, metrics: Metrics, endpoint: str) -> None:
        self.start = time.perf_counter()
        self._metrics = metrics
        self._endpoint = endpoint
        self._seen = False

    def saw(self, text: str) -> None:
        if text and not self._seen:
            self._seen = True
            self._metrics.ttft.labels(self._endpoint).observe(time.perf_counter() - self.start)

    def done(self) -> None:
        self._metrics.latency.labels(self._endpoint).observe(time.perf_counter() - self.start)


OnEvent = Callable[[ChoiceEvent], None]
