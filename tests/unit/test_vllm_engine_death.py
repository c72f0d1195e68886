"""The engine-failure log line counts the requests that really fail (issue 18: it said
"0 request(s) in flight fail" while 4 did, because vLLM's own monitor had failed them,
and so taken them out of the count, before the watchdog looked).

A stand-in for vLLM's AsyncLLM: requests wait until the engine "dies", then raise as
vLLM's do (EngineDeadError); the order of the two events is the test's to choose.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from codefill.model.engines import EngineError, SamplingOptions
from codefill.model.engines.vllm_engine import VllmEngine


class DeadEngineError(Exception):
    pass


class FakeAsyncLLM:
    def __init__(self) -> None:
        self.errored = False
        self.died = asyncio.Event()
        self.output_processor = self

    async def generate(self, engine_input, params, request_id, lora_request=None):
        await self.died.wait()
        raise DeadEngineError("EngineCore encountered an issue")
        yield  # an async generator, like AsyncLLM.generate

    def propagate_error(self, exc) -> None:
        self.died.set()

    def die(self) -> None:
        self.errored = True
        self.died.set()

    def get_num_unfinished_requests(self) -> int:
        return 0

    async def abort(self, request_id) -> None:
        pass


def engine_with(llm: FakeAsyncLLM) -> VllmEngine:
    engine = VllmEngine("fake")
    engine._llm = llm
    engine._sampling_params = lambda options: None  # type: ignore[method-assign]
    engine._engine_input = lambda ids: {"prompt_token_ids": list(ids)}  # type: ignore[method-assign]
    return engine


async def run_requests(engine: VllmEngine, n: int) -> list[asyncio.Task]:
    async def one(i: int) -> None:
        async for _ in engine.generate([1, 2, 3], SamplingOptions(max_tokens=8), f"req-{i}"):
            pass

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    while len(engine._in_flight) < n:
        await asyncio.sleep(0)
    return tasks


@pytest.mark.parametrize("requests_fail_first", [True, False],
                         ids=["vLLM fails the requests first", "the watchdog sees the death first"])
async def test_the_log_counts_the_requests_in_flight_that_fail(caplog, requests_fail_first):
    llm = FakeAsyncLLM()
    engine = engine_with(llm)
    tasks = await run_requests(engine, 4)
    caplog.set_level(logging.ERROR, logger="codefill.engine.vllm")
    if requests_fail_first:
        llm.die()  # vLLM's monitor thread: the flag, and every request gets the error
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert not engine._in_flight
        engine._on_death()  # then the watchdog
    else:
        llm.errored = True
        engine._on_death()  # the watchdog first: it fails the requests itself
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, EngineError) for r in results), results
    lines = [r.getMessage() for r in caplog.records if "in flight fail" in r.getMessage()]
    assert lines == ["the vLLM engine core process has died; 4 request(s) in flight fail"]


async def test_requests_that_finished_before_the_death_are_not_counted(caplog):
    llm = FakeAsyncLLM()
    engine = engine_with(llm)
    tasks = await run_requests(engine, 2)
    for t in tasks:
        t.cancel()  # these two end before the engine dies (a client went away)
    await asyncio.gather(*tasks, return_exceptions=True)
    failing = await run_requests(engine, 1)
    caplog.set_level(logging.ERROR, logger="codefill.engine.vllm")
    llm.die()
    await asyncio.gather(*failing, return_exceptions=True)
    engine._on_death()
    assert "1 request(s) in flight fail" in caplog.text
