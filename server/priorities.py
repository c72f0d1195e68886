"""Priorities: an editor's completion goes ahead of chat, `data instruct` and eval traffic.

Every request has an integer priority, vLLM's convention: lower is served earlier. A request's
own `priority` field wins; without one, `/v1/completions` with a `suffix` (fill-in-the-middle,
everything codefill lsp sends) gets PRIORITY_FIM (0), chat and plain completions PRIORITY_CHAT
(10); `codefill eval` and `codefill data instruct` send PRIORITY_BATCH (20) in the
`X-Codefill-Priority` header, which codefill takes when the body has none and every other
server ignores (so the same clients measure raw vLLM, which refuses a body priority unless it
runs priority scheduling).

Two places use it:
- vLLM's scheduler (`scheduling_policy="priority"`, each request's `priority`) orders its own
  waiting queue, and under KV-cache pressure preempts the lowest priority first;
- `Admission`, here, in front of every engine: at most `slots` engine requests run
  (`--max-running`, default vLLM's `max_num_seqs`; no bound on the transformers engine unless
  given); beyond that, requests wait here and the next free slot goes to the lowest priority
  number, first come first served within a priority. Waiting here costs the engine nothing: a
  client that leaves while waiting never reaches it, and a time budget counts the wait.

`--priorities off` gives every request the same priority (arrival order, as before) and vLLM
its default first-come-first-served policy.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from codefill.client.openai_http import PRIORITY_BATCH, PRIORITY_CHAT, PRIORITY_FIM, PRIORITY_HEADER
from codefill.server.errors import APIError
from codefill.server.metrics import Metrics
from codefill.server.protocol import PRIORITY_MAX, PRIORITY_MIN

__all__ = [
    "PRIORITY_BATCH", "PRIORITY_CHAT", "PRIORITY_FIM", "PRIORITY_CLASSES", "PRIORITY_HEADER", "Admission",
    "engine_slots", "header_priority", "priority_class", "request_priority", "server_admission",
]

# The label of a priority on /metrics (codefill_queue_wait_seconds{priority_class}): a bounded
# set, whatever numbers clients send.
PRIORITY_CLASSES = ("high", "normal", "low")


def priority_class(priority: int) -> str:
    """high: FIM's level or earlier; normal: up to chat's; low: batch work and later."""
    if priority <= PRIORITY_FIM:
        return "high"
    if priority < PRIORITY_BATCH:
        return "normal"
    return "low"


def request_priority(asked: int | None, *, fim: bool, enabled: bool = True) -> int:
    """The priority a request runs at: its own, else its kind's default; 0 for all when off."""
    if not enabled:
        return 0
    if asked is not None:
        return asked
    return PRIORITY_FIM if fim else PRIORITY_CHAT


def header_priority(value: str | None) -> int | None:
    """The priority the X-Codefill-Priority header asks for (None: no header); one that is not
    an integer is the client's error, a 400 naming the header."""
    if value is None:
        return None
    try:
        priority = int(value.strip())
    except ValueError:
        priority = None
    if priority is None or not PRIORITY_MIN <= priority <= PRIORITY_MAX:  # the body field's range
        raise APIError(400, f"header {PRIORITY_HEADER} must be an integer (lower is served earlier), got {value!r}",
                       code="invalid_priority", param=PRIORITY_HEADER)
    return priority


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future = field(compare=False)


class Admission:
    """At most `slots` holders at once (0: no bound); waiters get in lowest priority first,
    first in first out within a priority. Event-loop only (not thread-safe)."""

    def __init__(self, slots: int = 0, on_admit: Callable[[int, float], None] | None = None) -> None:
        self.slots = max(0, slots)
        self.running = 0
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        # Called with (priority, seconds waited) for every request admitted, 0.0 when at once.
        self._on_admit = on_admit

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def set_slots(self, slots: int) -> None:
        """A new bound (an engine started with its own size); more room admits waiters now."""
        self.slots = max(0, slots)
        self._wake()

    def _has_room(self) -> bool:
        return self.slots == 0 or self.running < self.slots

    async def acquire(self, priority: int) -> None:
        """Wait for a slot. Cancelled (the client left, a time budget ran out) it takes none."""
        start = time.perf_counter()
        if self._has_room() and not self._waiting:
            self.running += 1
            self._admitted(priority, 0.0)
            return
        waiter = _Waiter(priority, next(self._seq), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting, waiter)
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release()  # given a slot as it was cancelled: the next waiter has it
            else:
                self._waiting.remove(waiter)
                heapq.heapify(self._waiting)
            raise
        self._admitted(priority, time.perf_counter() - start)

    def release(self) -> None:
        self.running = max(0, self.running - 1)
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self._has_room():
            waiter = heapq.heappop(self._waiting)
            if waiter.future.done():
                continue
            self.running += 1
            waiter.future.set_result(None)

    def _admitted(self, priority: int, waited_s: float) -> None:
        if self._on_admit is not None:
            self._on_admit(priority, waited_s)


def engine_slots(max_running: int | None, engine: object) -> int:
    """The admission bound: --max-running when given, else the engine's own (vLLM's
    max_num_seqs); 0 (no bound) for an engine that has none (transformers)."""
    if max_running:
        return max_running
    try:
        details = engine.info.details  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an engine without info has no bound to offer
        return 0
    value = details.get("max_num_seqs") if isinstance(details, dict) else None
    return int(value) if isinstance(value, int) and value > 0 else 0


def server_admission(max_running: int | None, metrics: Metrics) -> Admission:
    """The server's admission, feeding /metrics: queue wait per priority class, requests waiting."""
    admission = Admission(
        max_running or 0,
        on_admit=lambda priority, waited: metrics.queue_wait.labels(priority_class(priority)).observe(waited),
    )
    for name in PRIORITY_CLASSES:  # every class on /metrics from the start, at 0
        metrics.queue_wait.labels(name)
    metrics.requests_waiting.set_function(lambda: float(admission.waiting))
    return admission
