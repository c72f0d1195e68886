"""How the evaluations send their cases: every system on a case back to back, cases in order.

One copy for `infill` (HumanEval infilling) and `fim` (the multi-language set): a failed
request is a result (an empty completion with its error), never a crash of the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Fill:
    """What one system produced for one case."""

    text: str  # goes into the program (after any client-side cut)
    raw_text: str | None = None  # the server's text before the client-side cut
    latency_s: float | None = None
    ttft_s: float | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None  # the request failed: the case counts as not passed


async def fill_or_error(filler: Callable[[Any], Awaitable[Fill]], case: Any) -> Fill:
    try:
        return await filler(case)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed request is a result, not a crash
        return Fill(text="", error=f"{type(exc).__name__}: {exc}")


def system_order(names: Sequence[str], index: int, alternate: bool) -> list[str]:
    """The systems in order for case `index`; reversed on every other case when `alternate`,
    so no system always comes first (e.g. into a cold prefix cache)."""
    return list(names[::-1] if alternate and index % 2 else names)


async def run_cases(total: int, handle: Callable[[int], Awaitable[None]], concurrency: int) -> None:
    """`concurrency` workers take the cases 0..total-1 in order, one case at a time each."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await handle(i)

    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, min(concurrency, total or 1))):
            tg.create_task(worker())
