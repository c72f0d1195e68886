"""Only the newest completion request of a document lives.

Every keystroke makes the client ask again; the older request's answer would be
for text that is gone. So a newer request cancels the older one wherever it is:
in its debounce pause (no HTTP request is ever sent) or waiting for the model
(cancelling closes the HTTP stream, and the server aborts the engine request).
A superseded request answers "nothing" instead of an error: the client did not
cancel it, and some clients log every error response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Running:
    task: asyncio.Task
    superseded: bool = False


class Debouncer:
    def __init__(self) -> None:
        self._running: dict[Hashable, _Running] = {}
        self.superseded = 0  # runs ended by a newer one

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T | None:
        """`work()` in the calling task, after cancelling the older run of `key`; None
        when a newer run cancels this one. Cancellation from elsewhere (the client's
        `$/cancelRequest`) propagates as usual."""
        task = asyncio.current_task()
        assert task is not None, "Debouncer.run must be awaited in a task"
        older = self._running.get(key)
        if older is not None and not older.task.done() and older.task is not task:
            older.superseded = True
            older.task.cancel()
        mine = _Running(task)
        self._running[key] = mine
        try:
            return await work()
        except asyncio.CancelledError:
            if mine.superseded:
                task.uncancel()
                self.superseded += 1
                log.debug("request for %s superseded by a newer one", key)
                return None
            raise
        finally:
            if self._running.get(key) is mine:
                del self._running[key]

    @staticmethod
    async def pause(delay_ms: int) -> None:
        """The debounce wait: a newer keystroke cancels the request before it is sent."""
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    def in_flight(self) -> int:
        return sum(1 for r in self._running.values() if not r.task.done())
