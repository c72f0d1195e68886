"""Connection limits: what a slow, stalled or greedy client may hold open.

uvicorn times out idle keep-alive connections, but nothing else: a client that sends
its request head one byte a second (slowloris), or declares an 8 MiB body and sends
15 bytes of it, holds its connection (and, for the body, a request in flight) for as
long as it likes. codefill serves through uvicorn's own HTTP protocol with these
additions:

| limit | flag | what happens |
|---|---|---|
| request head (request line and headers) | --header-timeout | 408, connection closed |
| request body | --body-timeout | 408 (if nothing was answered yet), connection closed |
| idle keep-alive connection | --keep-alive-timeout | closed (uvicorn's own timeout) |
| open connections per client address | --max-connections-per-client | 429, connection closed |

The head must arrive within --header-timeout of the connection opening (or of the
first byte of a later request on a kept-alive connection); the whole body within
--body-timeout of the head. Every connection closed this way is counted in /metrics
(`codefill_connections_dropped_total{reason=...}`), and `codefill_open_connections`
says how many are open. 0 turns a limit off.

Behind a reverse proxy every connection comes from the proxy's address: raise or turn
off --max-connections-per-client there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from codefill.server.errors import error_body

log = logging.getLogger("codefill.server")

DEFAULT_HEADER_TIMEOUT_S = 5.0
# 10 s for the whole body: 8 MiB (--max-body-bytes) needs about 7 Mbit/s; editors send kilobytes.
DEFAULT_BODY_TIMEOUT_S = 10.0
# Longer than clients keep idle connections (httpx: 5 s, same as uvicorn's default), so the
# client always drops an idle connection first: with equal timeouts a request sent just as
# the server closes it fails with a connection reset (seen once in 300 HumanEval requests).
DEFAULT_KEEP_ALIVE_S = 75.0
# `codefill bench` drives up to 64 requests at once from one address; --max-concurrent-per-key
# allows 128 requests in flight per client.
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 128

# After a timeout the loop reads once more before it drops the connection (see _cf_expired);
# a timer this short still comes after the loop's next look at its sockets.
LOOK_BEFORE_DROP_S = 0.05

HEADER_TIMEOUT = "header_timeout"
BODY_TIMEOUT = "body_timeout"
TOO_MANY_CONNECTIONS = "too_many_connections"
DROP_REASONS = (HEADER_TIMEOUT, BODY_TIMEOUT, TOO_MANY_CONNECTIONS)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    max_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT


def _raw_error(status: int, reason: str, message: str, code: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    body = json.dumps(error_body(status, message, code)).encode()
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(body)}",
            "connection: close", *(f"{k}: {v}" for k, v in extra)]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _default_protocol() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # httptools when installed, else h11

    return AutoHTTPProtocol


def guarded_protocol(limits: ConnectionLimits, metrics: Any = None,
                     base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (`base`, by default the one uvicorn would pick) with the
    limits above; pass it as uvicorn's `http`. `metrics` is the server's Metrics (or None)."""
    base = base or _default_protocol()
    open_per_client: dict[str, int] = {}
    header_408 = _raw_error(408, "Request Timeout",
                            f"the request head did not arrive within {limits.header_timeout_s:g} s "
                            "(--header-timeout)", "request_timeout")
    body_408 = _raw_error(408, "Request Timeout", f"the request body did not arrive within {limits.body_timeout_s:g} s "
                          "(--body-timeout)", "request_timeout")
    too_many_429 = _raw_error(
        429, "Too Many Requests",
        f"this client already has {limits.max_per_client} connections open, the most this server allows; reuse "
        "connections (keep-alive), or start the server with a higher --max-connections-per-client",
        "too_many_connections", (("retry-after", "1"),))

    def dropped(reason: str) -> None:
        if metrics is not None:
            metrics.connections_dropped.labels(reason).inc()

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        codefill_limits = limits

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._cf_timer: asyncio.TimerHandle | None = None
            self._cf_phase: str | None = None
            self._cf_host: str | None = None
            self._cf_open = True
            if metrics is not None:
                metrics.open_connections.inc()
            host = self.client[0] if self.client else None
            if limits.max_per_client and host is not None:
                if open_per_client.get(host, 0) >= limits.max_per_client:
                    dropped(TOO_MANY_CONNECTIONS)
                    log.debug("refused a connection from %s: %d open", host, limits.max_per_client)
                    transport.write(too_many_429)
                    transport.close()
                    return
                open_per_client[host] = open_per_client.get(host, 0) + 1
                self._cf_host = host
            self._cf_arm(HEADER_TIMEOUT)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cf_cancel()
            if getattr(self, "_cf_open", False):
                self._cf_open = False
                if metrics is not None:
                    metrics.open_connections.dec()
                host = self._cf_host
                if host is not None:
                    n = open_per_client.get(host, 0) - 1
                    if n > 0:
                        open_per_client[host] = n
                    else:
                        open_per_client.pop(host, None)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            self._cf_update(before, data_came=True)

        def on_response_complete(self) -> None:
            before = self.cycle
            super().on_response_complete()
            # h11 starts a pipelined request from here.
            self._cf_update(before, data_came=False)

        # --- the timers ------------------------------------------------------

        def _cf_update(self, before: Any, *, data_came: bool) -> None:
            if self.transport is None or self.transport.is_closing():
                self._cf_cancel()
                return
            cycle = self.cycle
            if cycle is not None and cycle is not before:
                # A request head was read: its body (if any) is on the clock now.
                if cycle.more_body and not cycle.response_complete:
                    self._cf_arm(BODY_TIMEOUT)
                else:
                    self._cf_cancel()
            elif cycle is None or cycle.response_complete:
                # Between requests: bytes of the next head came (an idle connection is
                # uvicorn's keep-alive timeout's business).
                if data_came and self._cf_phase != HEADER_TIMEOUT:
                    self._cf_arm(HEADER_TIMEOUT)
            elif self._cf_phase == BODY_TIMEOUT and not cycle.more_body:
                self._cf_cancel()  # the whole body is here

        def _cf_arm(self, phase: str) -> None:
            self._cf_cancel()
            timeout = limits.header_timeout_s if phase == HEADER_TIMEOUT else limits.body_timeout_s
            if timeout:
                self._cf_phase = phase
                self._cf_timer = self.loop.call_later(timeout, self._cf_expired, phase)

        def _cf_cancel(self) -> None:
            timer = getattr(self, "_cf_timer", None)
            if timer is not None:
                timer.cancel()
            self._cf_timer = None
            self._cf_phase = None

        def _cf_expired(self, phase: str, looked: bool = False) -> None:
            if not looked:
                # A loop blocked past the deadline (a loaded machine) runs its due timers
                # before it reads what arrived meanwhile: read first, then judge. Data that
                # moves the request on cancels or re-arms this timer.
                self._cf_timer = self.loop.call_later(LOOK_BEFORE_DROP_S, self._cf_expired, phase, True)
                return
            self._cf_timer = None
            self._cf_phase = None
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            cycle = self.cycle
            if phase == HEADER_TIMEOUT:
                if cycle is not None and not cycle.response_complete:
                    return  # a request is under way after all
                transport.write(header_408)
            else:
                if cycle is None or not cycle.more_body or cycle.response_complete:
                    return
                if not cycle.response_started:
                    transport.write(body_408)
            dropped(phase)
            log.debug("closed a connection from %s: %s", self.client[0] if self.client else "?", phase)
            # The app, if it waits for the body, gets http.disconnect and lets its request go.
            transport.close()

    GuardedProtocol.__name__ = f"Guarded{base.__name__}"
    GuardedProtocol.__qualname__ = GuardedProtocol.__name__
    return GuardedProtocol


__all__ = ["ConnectionLimits", "DROP_REASONS", "guarded_protocol"]
