"""The debouncer: a newer request for the same document cancels the older one
wherever it is; a cancel from elsewhere still propagates."""

from __future__ import annotations

import asyncio

import pytest

from codefill.lsp.debounce import Debouncer


async def test_newer_request_supersedes_older_in_its_pause():
    debouncer = Debouncer()
    ran: list[str] = []

    async def work(name: str) -> str:
        await Debouncer.pause(200)
        ran.append(name)
        return name

    first = asyncio.create_task(debouncer.run("doc", lambda: work("first")))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(debouncer.run("doc", lambda: work("second")))
    assert await first is None  # superseded: an empty answer, not an error
    assert await second == "second"
    assert ran == ["second"]
    assert not first.cancelled() and debouncer.in_flight() == 0


async def test_superseding_cancels_work_in_flight():
    debouncer = Debouncer()
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    first = asyncio.create_task(debouncer.run("doc", slow))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(debouncer.run("doc", lambda: asyncio.sleep(0, result="now")))
    assert await second == "now"
    assert await first is None and cancelled.is_set()


async def test_other_documents_are_independent():
    debouncer = Debouncer()
    a = asyncio.create_task(debouncer.run("a", lambda: asyncio.sleep(0.05, result="a")))
    await asyncio.sleep(0.01)
    b = asyncio.create_task(debouncer.run("b", lambda: asyncio.sleep(0.01, result="b")))
    assert (await a, await b) == ("a", "b")


async def test_cancellation_from_the_client_propagates():
    debouncer = Debouncer()
    task = asyncio.create_task(debouncer.run("doc", lambda: asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    task.cancel()  # what pygls does on $/cancelRequest
    with pytest.raises(asyncio.CancelledError):
        await task
    assert debouncer.in_flight() == 0


async def test_zero_pause_does_not_yield_a_sleep():
    await Debouncer.pause(0)
