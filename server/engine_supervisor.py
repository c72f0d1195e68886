"""Bring a failed engine back (`codefill serve --restart-on-failure`).

vLLM runs its engine core in a child process; if that process dies (out of
memory, a driver fault, a kill) the HTTP server stays up but cannot generate.
Without this supervisor /health says "unhealthy" and every request gets a 503
until someone restarts the server. With it, the dead engine is shut down and a
fresh one with the same configuration is started in the background, while
/health says "restarting" and requests get a 503 with Retry-After. A new engine
that fails again soon is retried with exponential backoff, so a crash loop does
not spin the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from codefill.server.state import ServingState

log = logging.getLogger("codefill.server")

POLL_S = 0.2
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
# An engine that served this long before failing counts as healthy: the next
# failure restarts at once again instead of continuing the backoff.
STABLE_AFTER_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0


class EngineSupervisor:
    def __init__(
        self,
        state: ServingState,
        *,
        poll_s: float = POLL_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        if state.engine_factory is None:
            raise ValueError("restarting the engine needs an engine factory")
        self.state = state
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._backoff = backoff_initial_s
        # When the current engine started, if this supervisor started it: the first
        # failure is restarted at once, a failure soon after a restart waits.
        self._last_start = float("-inf")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="codefill-engine-supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        state = self.state
        while True:
            await asyncio.sleep(self.poll_s)
            # A first load that fails is a configuration problem (bad model, no memory):
            # that is reported as "failed", not retried forever.
            if not state.ready or state.load_error is not None or state.engine.is_healthy():
                continue
            try:
                await self._restart()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the supervisor itself must outlive anything it meets
                log.exception("engine restart failed unexpectedly; trying again")

    async def _restart(self) -> None:
        state = self.state
        state.restarting = True
        state.restart_error = None
        if time.monotonic() - self._last_start >= STABLE_AFTER_S:
            self._backoff = self.backoff_initial_s
        log.error("the engine has failed; starting a new one (--restart-on-failure)")
        dead = state.engine
        await _shutdown_quietly(dead)
        try:
            while True:
                if time.monotonic() - self._last_start < STABLE_AFTER_S:
                    # The last engine did not last: wait before the next try.
                    log.info("waiting %.0f s before restarting the engine", self._backoff)
                    await asyncio.sleep(self._backoff)
                    self._backoff = min(self._backoff * 2, self.backoff_max_s)
                engine = state.engine_factory()  # type: ignore[misc]
                self._last_start = time.monotonic()
                started = time.monotonic()
                try:
                    await engine.start()
                    await state.prepare_encoders(engine)
                    state.install_engine(engine)
                except asyncio.CancelledError:
                    await _shutdown_quietly(engine)
                    raise
                except Exception as exc:  # noqa: BLE001 - reported through /health, then retried
                    log.exception("the new engine failed to start")
                    state.restart_error = exc
                    await _shutdown_quietly(engine)
                    continue
                state.metrics.engine_restarts.inc()
                log.info("engine restarted in %.1f s; serving again", time.monotonic() - started)
                return
        finally:
            state.restarting = False


async def _shutdown_quietly(engine) -> None:  # noqa: ANN001 - any Engine
    try:
        await asyncio.wait_for(engine.shutdown(), SHUTDOWN_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - a dead engine may fail to shut down; it is being replaced anyway
        log.warning("shutting down the failed engine raised; continuing", exc_info=True)
