"""A dying engine, as clients see it, on the in-process app with a controlled engine.

The real thing (SIGKILL of vLLM's engine core process) is tests/e2e/test_engine_failure.py;
these check the server's side of it quickly and deterministically: requests in flight end,
new ones get a 503 at once, /health says so, and --restart-on-failure brings a new engine.
"""

from __future__ import annotations

import asyncio
import json

from codefill.server.app import build_app
from codefill.server.engine_supervisor import EngineSupervisor
from codefill.server.state import ServerConfig, ServingState
from tests.fake_engine import ControlledEngine
from tests.unit.test_limits_and_keys import OK_BODY, client, error_of, wait_for


async def serving(tokenizer, *, restart: bool = False, fail_starts: int = 0):
    engines: list[ControlledEngine] = []

    def factory() -> ControlledEngine:
        # The first `fail_starts` replacement engines fail to start (a GPU still busy, say).
        fails = 1 if 0 < len(engines) <= fail_starts else 0
        engine = ControlledEngine(tokenizer, fail_starts=fails)
        engines.append(engine)
        return engine

    first = factory()
    await first.start()
    state = ServingState(ServerConfig(served_model_name="m", model_path="m", restart_on_failure=restart),
                         first, engine_factory=factory)
    state._prepare_templates()
    state.ready = True
    return build_app(state, start_engine=False), state, engines


async def test_requests_in_flight_end_and_new_ones_get_503_at_once(qwen_tokenizer):
    app, state, engines = await serving(qwen_tokenizer)
    engine = engines[0]
    engine.free_tokens = 2
    engine.hold()
    stream_body = {**OK_BODY, "max_tokens": 50, "stream": True}
    async with client(app) as c:
        whole = asyncio.create_task(c.post("/v1/completions", json={**OK_BODY, "max_tokens": 50}))
        stream = asyncio.create_task(c.post("/v1/completions", json=stream_body))
        chat = asyncio.create_task(c.post("/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "stream": True}))
        await wait_for(lambda: len(engine.in_flight) == 3)
        engine.die()
        done, pending = await asyncio.wait({whole, stream, chat}, timeout=2)
        assert not pending, "requests in flight must end when the engine dies"

        assert error_of(whole.result(), 503)["code"] == "engine_unavailable"
        for task in (stream, chat):
            # The 200 had gone out with the first tokens: the failure comes as an error event, then [DONE].
            r = task.result()
            assert r.status_code == 200
            events = [line.removeprefix("data: ") for line in r.text.splitlines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            assert json.loads(events[-2])["error"]["code"] == "engine_unavailable"

        health = await c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        assert "--restart-on-failure" in health.json()["error"]
        started = asyncio.get_running_loop().time()
        err = error_of(await c.post("/v1/completions", json=OK_BODY), 503)
        assert err["code"] == "engine_unavailable"
        assert asyncio.get_running_loop().time() - started < 0.5
        r = await c.post("/v1/completions", json={**OK_BODY, "stream": True})
        assert error_of(r, 503)["code"] == "engine_unavailable"  # refused before the stream starts


async def test_restart_on_failure_brings_a_new_engine(qwen_tokenizer, monkeypatch):
    app, state, engines = await serving(qwen_tokenizer, restart=True)
    supervisor = EngineSupervisor(state, poll_s=0.01, backoff_initial_s=0.01)
    supervisor.start()
    # The replacement's start waits for the test, so the "restarting" state can be looked at.
    gate = asyncio.Event()
    original_start = ControlledEngine.start

    async def gated_start(self):
        await gate.wait()
        await original_start(self)

    try:
        async with client(app) as c:
            assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200
            monkeypatch.setattr(ControlledEngine, "start", gated_start)
            engines[0].die()
            await wait_for(lambda: state.restarting)
            health = await c.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "restarting"
            r = await c.post("/v1/completions", json=OK_BODY)
            assert error_of(r, 503)["code"] == "engine_unavailable" and r.headers["retry-after"]
            gate.set()
            await wait_for(lambda: not state.restarting)
            assert len(engines) == 2 and state.engine is engines[1]
            assert not engines[0].started  # the dead engine was shut down
            assert (await c.get("/health")).json()["status"] == "ok"
            assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200
            assert "codefill_engine_restarts_total 1.0" in (await c.get("/metrics")).text
    finally:
        await supervisor.stop()


async def test_a_replacement_that_fails_to_start_is_retried_with_backoff(qwen_tokenizer):
    app, state, engines = await serving(qwen_tokenizer, restart=True, fail_starts=2)
    supervisor = EngineSupervisor(state, poll_s=0.01, backoff_initial_s=0.02, backoff_max_s=0.05)
    supervisor.start()
    try:
        async with client(app) as c:
            engines[0].die()
            await wait_for(lambda: state.restart_error is not None)
            health = (await c.get("/health")).json()
            assert health["status"] == "restarting" and "failed on purpose" in health["last_restart_error"]
            await wait_for(lambda: state.engine.is_healthy() and not state.restarting)
            # Two replacements failed to start, the third serves.
            assert [e.starts for e in engines[1:]] == [1, 1, 1] and state.engine is engines[3]
            assert supervisor._backoff == 0.05  # doubled each failure, capped
            assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200
    finally:
        await supervisor.stop()


async def test_a_first_load_failure_is_reported_not_retried(qwen_tokenizer):
    app, state, engines = await serving(qwen_tokenizer, restart=True)
    state.ready = False
    state.load_error = RuntimeError("no such model")
    engines[0].die()
    supervisor = EngineSupervisor(state, poll_s=0.01)
    supervisor.start()
    try:
        await asyncio.sleep(0.1)
        assert len(engines) == 1
        async with client(app) as c:
            health = await c.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "failed"
    finally:
        await supervisor.stop()


def test_supervisor_needs_a_factory(qwen_tokenizer):
    state = ServingState(ServerConfig(served_model_name="m", model_path="m"), ControlledEngine(qwen_tokenizer))
    try:
        EngineSupervisor(state)
    except ValueError as exc:
        assert "factory" in str(exc)
    else:
        raise AssertionError("expected a ValueError")

