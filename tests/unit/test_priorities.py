"""Priorities: the admission order (server/priorities.py), and through the in-process app with the
controlled engine, an editor's FIM request that arrives after several chat requests starts before them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from codefill.model.engines import Delta, SamplingOptions
from codefill.client.openai_http import PRIORITY_BATCH, PRIORITY_CHAT, PRIORITY_FIM
from codefill.server.app import build_app
from codefill.commands.cli import build_parser
from codefill.server.priorities import Admission, engine_slots, priority_class, request_priority
from codefill.server.state import ServerConfig, ServingState
from tests.fake_engine import ControlledEngine


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# --- the admission order ------------------------------------------------------------------


async def test_waiters_get_in_by_priority_first_come_first_served_within_one():
    admission = Admission(slots=1)
    order: list[str] = []

    async def run(name: str, priority: int) -> None:
        await admission.acquire(priority)
        order.append(name)
        await asyncio.sleep(0)
        admission.release()

    await admission.acquire(PRIORITY_CHAT)  # the engine is full
    tasks = []
    for name, priority in [("chat-1", PRIORITY_CHAT), ("batch-1", PRIORITY_BATCH), ("chat-2", PRIORITY_CHAT),
                           ("fim-1", PRIORITY_FIM), ("chat-3", PRIORITY_CHAT), ("fim-2", PRIORITY_FIM)]:
        tasks.append(asyncio.create_task(run(name, priority)))
        await settle()
    assert admission.waiting == 6 and order == []
    admission.release()
    await asyncio.gather(*tasks)
    assert order == ["fim-1", "fim-2", "chat-1", "chat-2", "chat-3", "batch-1"]
    assert admission.running == 0 and admission.waiting == 0


async def test_no_wait_while_slots_are_free_and_no_bound_at_zero():
    waits: list[tuple[int, float]] = []
    admission = Admission(slots=2, on_admit=lambda p, w: waits.append((p, w)))
    await admission.acquire(5)
    await admission.acquire(5)
    assert admission.running == 2 and waits == [(5, 0.0), (5, 0.0)]
    unbounded = Admission(slots=0)
    for _ in range(100):
        await unbounded.acquire(0)
    assert unbounded.running == 100 and unbounded.waiting == 0


async def test_a_newcomer_does_not_overtake_waiters_of_its_own_priority():
    admission = Admission(slots=1)
    await admission.acquire(0)
    first = asyncio.create_task(admission.acquire(0))
    await settle()
    admission.release()  # the slot goes to the waiter ...
    late = asyncio.create_task(admission.acquire(0))  # ... not to one that arrives as it frees
    await settle()
    assert first.done() and not late.done()
    admission.release()
    await settle()
    assert late.done()


async def full_with_two_waiting() -> tuple[Admission, asyncio.Task, asyncio.Task]:
    """One slot, held; a FIM-priority waiter, then a chat-priority one."""
    admission = Admission(slots=1)
    await admission.acquire(0)
    first = asyncio.create_task(admission.acquire(0))
    second = asyncio.create_task(admission.acquire(PRIORITY_CHAT))
    await settle()
    return admission, first, second


async def test_a_waiter_that_leaves_takes_no_slot():
    admission, gone, stays = await full_with_two_waiting()
    gone.cancel()
    await settle()
    assert admission.waiting == 1
    admission.release()
    await settle()
    assert stays.done() and admission.running == 1


async def test_a_slot_granted_as_its_waiter_is_cancelled_goes_to_the_next():
    admission, granted, nxt = await full_with_two_waiting()
    admission.release()  # granted's future is set; it has not run yet
    granted.cancel()
    await settle()
    assert granted.cancelled() and nxt.done() and admission.running == 1


async def test_more_slots_admit_waiters_at_once():
    admission = Admission(slots=1)
    await admission.acquire(0)
    waiters = [asyncio.create_task(admission.acquire(0)) for _ in range(3)]
    await settle()
    admission.set_slots(3)
    await settle()
    assert sum(w.done() for w in waiters) == 2 and admission.waiting == 1


def test_defaults_and_classes():
    assert request_priority(None, fim=True) == PRIORITY_FIM == 0
    assert request_priority(None, fim=False) == PRIORITY_CHAT
    assert request_priority(-3, fim=False) == -3 and request_priority(99, fim=True) == 99
    assert request_priority(99, fim=True, enabled=False) == request_priority(None, fim=False, enabled=False) == 0
    assert [priority_class(p) for p in (-5, 0, 1, 10, 19, 20, 1000)] == \
        ["high", "high", "normal", "normal", "normal", "low", "low"]


def test_the_bound_comes_from_the_flag_or_the_engine(qwen_tokenizer):
    engine = ControlledEngine(qwen_tokenizer)
    assert engine_slots(None, engine) == 0  # an engine without its own bound
    engine.info.details["max_num_seqs"] = 32
    assert engine_slots(None, engine) == 32 and engine_slots(4, engine) == 4
    args = build_parser().parse_args(["serve"])
    assert args.priorities == "on" and args.max_running is None
    args = build_parser().parse_args(["serve", "--priorities", "off", "--max-running", "3"])
    assert args.priorities == "off" and args.max_running == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-running", "0"])


# --- through the app -----------------------------------------------------------------------


class RecordingEngine(ControlledEngine):
    """The controlled engine, recording the order in which requests reach it, with their priority."""

    def __init__(self, tokenizer) -> None:
        super().__init__(tokenizer)
        self.started_order: list[tuple[str, int]] = []

    async def generate(self, prompt_token_ids: Sequence[int], options: SamplingOptions,
                       request_id: str) -> AsyncIterator[Delta]:
        self.started_order.append((request_id.split("-")[0], options.priority))
        async for delta in super().generate(prompt_token_ids, options, request_id):
            yield delta


async def serving(tokenizer, **config) -> tuple[ServingState, RecordingEngine, httpx.AsyncClient]:
    engine = RecordingEngine(tokenizer)
    await engine.start()
    state = ServingState(ServerConfig(served_model_name="m", model_path="m", **config), engine)
    state._prepare_templates()
    state.ready = True
    app = build_app(state, start_engine=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codefill", timeout=30)
    return state, engine, client


CHAT = {"model": "m", "messages": [{"role": "user", "content": "explain sorting"}], "max_tokens": 3}
FIM = {"model": "m", "prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))", "max_tokens": 3,
       "codefill": {"postprocess": False}}


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def saturate_then(client, state, engine, late: list[dict]) -> list[tuple[str, int]]:
    """One chat request runs (the engine is held), three more chat requests queue, then `late`
    arrive; all are released; the order in which they reached the engine."""
    engine.hold()
    sent = [asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))]
    await wait_for(lambda: len(engine.in_flight) == 1)
    for _ in range(3):
        sent.append(asyncio.create_task(client.post("/v1/chat/completions", json=CHAT)))
        await wait_for(lambda: state.admission.waiting == len(sent) - 1)
    for body in late:
        path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
        sent.append(asyncio.create_task(client.post(path, json=body)))
        await wait_for(lambda: state.admission.waiting == len(sent) - 1)
    engine.release()
    answers = await asyncio.gather(*sent)
    assert [r.status_code for r in answers] == [200] * len(sent), [r.text for r in answers]
    return engine.started_order


async def test_a_fim_request_after_queued_chat_starts_before_them(qwen_tokenizer):
    state, engine, client = await serving(qwen_tokenizer, max_running=1)
    async with client:
        order = await saturate_then(client, state, engine, [FIM])
        assert order == [("chatcmpl", 10), ("cmpl", 0), ("chatcmpl", 10), ("chatcmpl", 10), ("chatcmpl", 10)]
        metrics = (await client.get("/metrics")).text
    assert 'codefill_queue_wait_seconds_count{priority_class="high"} 1.0' in metrics
    assert 'codefill_queue_wait_seconds_count{priority_class="normal"} 4.0' in metrics
    assert "codefill_requests_waiting 0.0" in metrics


async def test_without_priorities_requests_start_in_arrival_order(qwen_tokenizer):
    state, engine, client = await serving(qwen_tokenizer, max_running=1, priorities=False)
    async with client:
        order = await saturate_then(client, state, engine, [FIM])
    assert [kind for kind, _ in order] == ["chatcmpl"] * 4 + ["cmpl"]
    assert {p for _, p in order} == {0}


async def test_the_priority_field_overrides_the_defaults(qwen_tokenizer):
    state, engine, client = await serving(qwen_tokenizer, max_running=1)
    async with client:
        order = await saturate_then(client, state, engine, [
            {**FIM, "priority": PRIORITY_BATCH},       # a FIM request marked as batch work goes last
            {**CHAT, "priority": -1},                  # an urgent chat request goes first
            {**FIM, "prompt": "x = ", "priority": 0.0},  # an integral float is an integer
        ])
    assert order == [("chatcmpl", 10), ("chatcmpl", -1), ("cmpl", 0), ("chatcmpl", 10), ("chatcmpl", 10),
                     ("chatcmpl", 10), ("cmpl", 20)]


async def test_bad_priorities_are_a_400_in_the_api_shape(qwen_tokenizer):
    _, _, client = await serving(qwen_tokenizer, max_running=1)
    async with client:
        for bad in ("high", True, 1.5, 2**63, [1]):
            for path, body in (("/v1/completions", FIM), ("/v1/chat/completions", CHAT)):
                r = await client.post(path, json={**body, "priority": bad})
                assert r.status_code == 400, (bad, r.text)
                err = r.json()["error"]
                assert set(err) == {"message", "type", "param", "code"} and err["param"] == "priority"
        assert (await client.post("/v1/completions", json={**FIM, "priority": None})).status_code == 200


async def test_batch_clients_ask_in_a_header_the_body_wins(qwen_tokenizer):
    from codefill.client.completions import chat_complete, complete_fim

    state, engine, client = await serving(qwen_tokenizer, max_running=1)
    async with client:
        engine.hold()
        sent = [asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))]
        await wait_for(lambda: len(engine.in_flight) == 1)
        late = [
            complete_fim("http://codefill", "m", FIM["prompt"], FIM["suffix"], 3, client=client,
                         codefill={"postprocess": False}),  # eval's default: batch, in the header
            chat_complete("http://codefill", "m", CHAT["messages"], 3, client=client),  # batch too
            client.post("/v1/chat/completions", json=CHAT),  # chat's own default
            chat_complete("http://codefill", "m", CHAT["messages"], 3, client=client,
                          extra={"priority": -1}),  # the body's priority wins over the header's
        ]
        for request in late:
            sent.append(asyncio.create_task(request))
            await wait_for(lambda: state.admission.waiting == len(sent) - 1)
        engine.release()
        await asyncio.gather(*sent)
        assert engine.started_order == [("chatcmpl", 10), ("chatcmpl", -1), ("chatcmpl", 10), ("cmpl", 20),
                                         ("chatcmpl", 20)]
        for bad in ("soon", "1.5", str(2**63)):
            r = await client.post("/v1/completions", json=FIM, headers={"X-Codefill-Priority": bad})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "X-Codefill-Priority"


async def test_batch_clients_send_no_priority_in_the_body():
    """Raw vLLM refuses a body priority unless it runs priority scheduling, an older codefill
    refuses unknown fields: the batch priority travels only in the header they ignore."""
    from codefill.client.completions import chat_complete, complete_fim

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})
        return httpx.Response(200, json={"choices": [{"text": "ok", "finish_reason": "stop"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await complete_fim("http://raw", "m", "a", "b", 3, client=client)
        await chat_complete("http://raw", "m", CHAT["messages"], 3, client=client)
        await complete_fim("http://raw", "m", "a", "b", 3, client=client, priority=None)
    import json

    assert all("priority" not in json.loads(r.content) for r in seen)
    assert [r.headers.get("X-Codefill-Priority") for r in seen] == [str(PRIORITY_BATCH), str(PRIORITY_BATCH), None]


async def asgi_post(app, path: str, body: dict, gone: asyncio.Event) -> list[dict]:
    """POST straight to the ASGI app; the client disconnects when `gone` is set."""
    import json

    payload = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
             "client": ("127.0.0.1", 5000), "server": ("codefill", 80)}
    sent_body = False
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_request_that_leaves_while_queued_never_reaches_the_engine(qwen_tokenizer):
    state, engine, client = await serving(qwen_tokenizer, max_running=1)
    app = client._transport.app  # type: ignore[attr-defined]
    async with client:
        engine.hold()
        running = asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))
        await wait_for(lambda: len(engine.in_flight) == 1)
        gone = asyncio.Event()
        queued = asyncio.create_task(asgi_post(app, "/v1/completions", FIM, gone))
        await wait_for(lambda: state.admission.waiting == 1)
        gone.set()  # the editor moved on
        await wait_for(lambda: state.admission.waiting == 0)
        await queued
        engine.release()
        assert (await running).status_code == 200
        assert [kind for kind, _ in engine.started_order] == ["chatcmpl"]
        assert state.admission.running == 0
        # and the slot it never took serves the next request at once
        assert (await client.post("/v1/completions", json=FIM)).status_code == 200


async def test_a_time_budget_counts_the_wait(qwen_tokenizer):
    state, engine, client = await serving(qwen_tokenizer, max_running=1)
    async with client:
        engine.hold()
        running = asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))
        await wait_for(lambda: len(engine.in_flight) == 1)
        r = await client.post("/v1/completions", json={**FIM, "codefill": {"max_time_ms": 50}})
        assert r.status_code == 200, r.text
        choice = r.json()["choices"][0]
        assert choice["finish_reason"] == "time_limit" and choice["text"] == ""
        assert state.admission.waiting == 0
        engine.release()
        assert (await running).status_code == 200
    assert [kind for kind, _ in engine.started_order] == ["chatcmpl"]
