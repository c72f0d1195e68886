"""Model requests that outlive the completion request that started them.

On a slow server the user types the next keys before the answer comes, and each key
makes the client ask again. Cancelling the model request at every key would mean no
answer ever arrives while the user types. So a model request runs in a task of its
own, tied to the text it was asked for, and a newer completion request for the same
document waits for it instead of asking again, as long as

* the only change since is text typed at its cursor, and
* what the model has written so far agrees with that text.

Its answer is then shown from the typed text on (`codefill.lsp.freshness.rebase`). A request
that no longer agrees is aborted at once: at the keystroke that shows it (`changed`),
or when a newer request finds it. One nobody waits for any more (the client
cancelled it and asked nothing since) is aborted after `ORPHAN_GRACE_S`, unless a
newer request takes it over first. Every answer goes into the cache for the text it
was asked for, so even one that arrives when nobody waits serves the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from codefill.lsp.freshness import agrees, typed_since

log = logging.getLogger(__name__)

# How long a model request nobody waits for may run before it is aborted: enough for a
# client that cancels at each keystroke and asks again at the next pause to take it over.
ORPHAN_GRACE_S = 1.0


@dataclass(eq=False)
class ModelCall:
    uri: str
    document: str  # the text it was asked for
    offset: int  # the cursor in that text
    task: asyncio.Task[str] = field(repr=False)
    so_far: str = ""  # what the model has written so far
    context_key: str = ""  # of the context it was asked with (telemetry)
    waiters: int = 0
    _orphan_timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def agrees_with(self, document: str, offset: int) -> bool:
        """`document` with the cursor at `offset` is this call's text with the start of
        its answer typed."""
        typed = typed_since(self.document, self.offset, document)
        return typed is not None and self.offset + len(typed) == offset and agrees(self.so_far, typed)

    def abort(self, why: str) -> None:
        if not self.task.done():
            log.debug("model request for %s aborted: %s", self.uri.rsplit("/", 1)[-1], why)
            self.task.cancel()

    async def answer(self) -> str | None:
        """Wait for the answer; None when the call was aborted (not this waiter)."""
        self.waiters += 1
        if self._orphan_timer is not None:
            self._orphan_timer.cancel()
            self._orphan_timer = None
        try:
            return await asyncio.shield(self.task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.task.cancelled() and (current is None or not current.cancelling()):
                return None
            raise
        finally:
            self.waiters -= 1
            if self.waiters == 0 and not self.task.done():
                self._orphan_timer = asyncio.get_running_loop().call_later(
                    ORPHAN_GRACE_S, self._abort_if_orphaned)

    def _abort_if_orphaned(self) -> None:
        self._orphan_timer = None
        if self.waiters == 0:
            self.abort("nobody waits for it")


class ModelCalls:
    """The newest model request of each document."""

    def __init__(self) -> None:
        self._calls: dict[str, ModelCall] = {}

    def start(self, uri: str, document: str, offset: int,
              work: Callable[[ModelCall], Awaitable[str]]) -> ModelCall:
        older = self._calls.get(uri)
        if older is not None:
            older.abort("a newer request for the document")
        call = ModelCall(uri, document, offset, task=None)  # type: ignore[arg-type]
        call.task = asyncio.ensure_future(work(call))
        call.task.add_done_callback(lambda task: self._done(call, task))
        self._calls[uri] = call
        return call

    def joinable(self, uri: str, document: str, offset: int) -> ModelCall | None:
        """The running call whose answer may fit `document` at `offset`; a running call
        that cannot is aborted."""
        call = self._calls.get(uri)
        if call is None or call.task.done():
            return None
        if call.agrees_with(document, offset):
            return call
        call.abort("the text changed another way than its answer")
        return None

    def changed(self, uri: str, document: str) -> None:
        """A keystroke: abort the document's call when the text no longer agrees with it."""
        call = self._calls.get(uri)
        if call is None or call.task.done():
            return
        typed = typed_since(call.document, call.offset, document)
        if typed is None or not agrees(call.so_far, typed):
            call.abort("the user typed something else")

    def closed(self, uri: str) -> None:
        call = self._calls.pop(uri, None)
        if call is not None:
            call.abort("the document was closed")

    def abort_all(self) -> None:
        for call in list(self._calls.values()):
            call.abort("shutting down")

    def _done(self, call: ModelCall, task: asyncio.Task[str]) -> None:
        if self._calls.get(call.uri) is call:
            del self._calls[call.uri]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody waited for was logged by the work
