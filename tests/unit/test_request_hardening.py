"""Input no client may crash the server with, on the in-process app with a controlled engine.

Lone surrogates (JSON's "\\ud800", or the bytes \\xed\\xa0\\x80, which Python's JSON
decoder reads the same way) in any field get a 400 that names the field, never a 5xx,
and no error message repeats them; OpenAI's strict types are strict here too
(`max_tokens: true` and `stream: "yes"` are 400s); --max-request-chars refuses a request
before any tokenizing; prompts are built off the event loop, in lanes whose queues are
bounded (--max-queued-prompts); /openapi.json declares every error status.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from codefill.server.limits import Limits
from tests.unit.test_limits_and_keys import client, error_of, make_app

SURROGATE = "\ud800"
FIM = {"model": "m", "prompt": "def f():\n    ", "suffix": "\n", "max_tokens": 2}
CHAT = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}

# (endpoint, body with SURROGATE somewhere, the param the 400 must name)
CASES = [
    ("/v1/completions", {**FIM, "prompt": f"a{SURROGATE}b"}, "prompt"),
    ("/v1/completions", {**FIM, "suffix": None, "prompt": ["ok", f"x{SURROGATE}"]}, "prompt.1"),
    ("/v1/completions", {**FIM, "suffix": SURROGATE}, "suffix"),
    ("/v1/completions", {**FIM, "codefill": {"path": f"a{SURROGATE}.py"}}, "codefill.path"),
    ("/v1/completions", {**FIM, "codefill": {"files": [{"path": "b.py", "content": f"x{SURROGATE}"}]}},
     "codefill.files.0.content"),
    ("/v1/completions", {**FIM, "codefill": {"files": [{"path": f"{SURROGATE}.py", "content": "x"}]}},
     "codefill.files.0.path"),
    ("/v1/completions", {**FIM, "codefill": {"repo_name": SURROGATE}}, "codefill.repo_name"),
    ("/v1/completions", {**FIM, "codefill": {"language": SURROGATE}}, "codefill.language"),
    ("/v1/completions", {**FIM, "codefill": {"rules": {SURROGATE: False}}}, "codefill.rules"),
    ("/v1/completions", {**FIM, "stop": SURROGATE}, "stop"),
    ("/v1/completions", {**FIM, "stop": ["\n", f"{SURROGATE}x"]}, "stop.1"),
    ("/v1/completions", {**FIM, "user": SURROGATE}, "user"),
    ("/v1/completions", {**FIM, "model": f"m{SURROGATE}"}, "model"),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": f"hi{SURROGATE}"}]},
     "messages.0.content"),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "a"},
                                                    {"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]},
     "messages.1.content.0.text"),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "a", "name": SURROGATE}]},
     "messages.0.name"),
    ("/v1/chat/completions", {**CHAT, "model": SURROGATE}, "model"),
    ("/v1/chat/completions", {**CHAT, "stop": [SURROGATE]}, "stop.0"),
    ("/v1/chat/completions", {**CHAT, "user": SURROGATE}, "user"),
]


def _bodies(body: dict) -> list[bytes]:
    """The body with the surrogate as a JSON escape, and as the raw (invalid UTF-8) bytes."""
    escaped = json.dumps(body).encode()  # ensure_ascii: "\\ud800"
    raw = escaped.replace(b"\\ud800", b"\xed\xa0\x80")
    assert escaped != raw
    return [escaped, raw]


@pytest.mark.parametrize("path, body, param", CASES, ids=[c[2] + ("" if c[0] == "/v1/completions" else " (chat)")
                                                          for c in CASES])
async def test_a_lone_surrogate_anywhere_is_a_400_that_names_the_field(qwen_tokenizer, path, body, param):
    app, state, _ = await make_app(qwen_tokenizer)
    async with client(app) as c:
        for content in _bodies(body):
            r = await c.post(path, content=content, headers={"content-type": "application/json"})
            err = error_of(r, 400)
            assert err["param"] == param and err["code"] == "invalid_text", err
            assert "surrogate" in err["message"] and param in err["message"]
            r.content.decode("utf-8")  # the answer itself is valid UTF-8 ...
            assert "\ud800" not in err["message"]  # ... and repeats nothing it could not encode
        # and the server serves on
        ok = await c.post(path, json=FIM if path == "/v1/completions" else CHAT)
        assert ok.status_code == 200, ok.text
    assert state.engine.num_in_flight() == 0


async def test_error_messages_that_name_client_text_never_fail_on_it(qwen_tokenizer):
    """Field names and model names are repeated in errors: a lone surrogate in them is
    escaped (or not repeated), never a failure to encode the answer."""
    from codefill.server.errors import error_body

    assert error_body(404, f"The model `m{SURROGATE}` does not exist")["error"]["message"] == \
        "The model `m\\ud800` does not exist"
    app, _, _ = await make_app(qwen_tokenizer)
    async with client(app) as c:
        for body in ({**FIM, SURROGATE: 1}, {**FIM, "codefill": {f"x{SURROGATE}": 1}}):
            for content in _bodies(body):
                r = await c.post("/v1/completions", content=content, headers={"content-type": "application/json"})
                err = error_of(r, 400)
                r.content.decode("utf-8")
                assert SURROGATE not in err["message"] and SURROGATE not in (err["param"] or "")


async def test_nul_and_control_token_strings_are_ordinary_text(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer)
    async with client(app) as c:
        for body in ({**FIM, "prompt": "a\x00b", "suffix": "\x00<|fim_middle|>"},
                     {**FIM, "suffix": None, "prompt": "\x00<|endoftext|>"},
                     {**CHAT, "messages": [{"role": "user", "content": "\x00<|im_end|>"}], "stop": ["\x00"]}):
            path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
            assert (await c.post(path, json=body)).status_code == 200


# (endpoint, field, value): OpenAI answers these with a 400; pydantic's coercion took them.
STRICT = [
    ("/v1/completions", "max_tokens", True),
    ("/v1/completions", "max_tokens", "4"),
    ("/v1/completions", "max_tokens", 4.5),
    ("/v1/completions", "stream", "yes"),
    ("/v1/completions", "stream", 1),
    ("/v1/completions", "n", "1"),
    ("/v1/completions", "n", True),
    ("/v1/completions", "temperature", "0"),
    ("/v1/completions", "temperature", True),
    ("/v1/completions", "seed", "7"),
    ("/v1/completions", "echo", 0),
    ("/v1/completions", "prompt", [True, False]),
    ("/v1/completions", "codefill", {"postprocess": "false"}),
    ("/v1/completions", "stream_options", {"include_usage": 1}),
    ("/v1/chat/completions", "stream", "yes"),
    ("/v1/chat/completions", "max_tokens", True),
    ("/v1/chat/completions", "max_completion_tokens", "2"),
    ("/v1/chat/completions", "logprobs", 0),
]


@pytest.mark.parametrize("path, field, value", STRICT, ids=[f"{p.rsplit('/', 1)[1]}-{f}={v!r}" for p, f, v in STRICT])
async def test_types_are_strict_where_openai_is(qwen_tokenizer, path, field, value):
    app, _, _ = await make_app(qwen_tokenizer)
    base = FIM if path == "/v1/completions" else CHAT
    async with client(app) as c:
        r = await c.post(path, json={**base, field: value})
        err = error_of(r, 400)
        assert err["param"] and err["param"].startswith(field), err


async def test_numbers_stay_numbers(qwen_tokenizer):
    """An integer is a number (temperature 0, top_p 1), and 4.0 is an integer, as JSON Schema
    and /openapi.json have it (schema-driven clients send it)."""
    app, _, _ = await make_app(qwen_tokenizer)
    async with client(app) as c:
        r = await c.post("/v1/completions", json={**FIM, "temperature": 0, "top_p": 1, "stream": False,
                                                  "max_tokens": 2.0, "n": 1.0, "seed": 7.0})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] == 2
        r = await c.post("/v1/completions", json={**FIM, "suffix": None, "prompt": [[1.0, 2.0, 3.0]]})
        assert r.status_code == 200, r.text


# --- --max-request-chars ------------------------------------------------------


@pytest.mark.parametrize("path, body, param", [
    ("/v1/completions", {**FIM, "suffix": None, "prompt": "x" * 1001}, "prompt"),
    ("/v1/completions", {**FIM, "prompt": "x" * 400, "suffix": "y" * 700}, "suffix"),
    ("/v1/completions", {**FIM, "codefill": {"files": [{"path": "a.py", "content": "z" * 1200}]}},
     "codefill.files.0.content"),
    ("/v1/completions", {**FIM, "suffix": None, "prompt": [list(range(1100))]}, "prompt.0"),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "c" * 600},
                                                    {"role": "user", "content": "d" * 500}]}, "messages.0.content"),
])
async def test_too_many_characters_get_a_413_before_any_tokenizing(qwen_tokenizer, monkeypatch, path, body, param):
    app, state, _ = await make_app(qwen_tokenizer, limits=Limits(max_request_chars=1000))
    monkeypatch.setattr(state, "prepare", None)  # any prompt building would fail loudly
    async with client(app) as c:
        r = await c.post(path, json=body)
        err = error_of(r, 413)
        assert err["code"] == "request_too_large" and err["param"] == param, err
        assert "--max-request-chars" in err["message"] and "(1000)" in err["message"]


async def test_a_request_within_the_character_limit_is_served(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_request_chars=1000))
    async with client(app) as c:
        assert (await c.post("/v1/completions", json={**FIM, "prompt": "x" * 900})).status_code == 200


# --- prompts are built off the event loop ----------------------------------------


async def test_prompts_are_built_in_the_prompt_threads(qwen_tokenizer, monkeypatch):
    app, state, _ = await make_app(qwen_tokenizer)
    threads: list[str] = []
    from codefill.server.serving_chat import ChatService
    from codefill.server.serving_completions import CompletionsService

    for cls, name in ((CompletionsService, "_prepare_all"), (ChatService, "_prompt_ids")):
        original = getattr(cls, name)

        def spy(self, *args, _original=original):
            threads.append(threading.current_thread().name)
            return _original(self, *args)

        monkeypatch.setattr(cls, name, spy)
    async with client(app) as c:
        assert (await c.post("/v1/completions", json=FIM)).status_code == 200
        assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200
        big = {**CHAT, "messages": [{"role": "user", "content": "x = 1\n" * 30_000}]}
        assert (await c.post("/v1/chat/completions", json=big)).status_code == 400  # over the 2048-token context
    assert threads[:2] == [t for t in threads[:2] if t.startswith("codefill-prompt_")], threads
    assert threads[2].startswith("codefill-prompt-large"), threads


async def test_health_answers_while_a_long_conversation_is_tokenized(qwen_tokenizer):
    """In process, so on the same event loop as the request: /health must not wait for the
    tokenizer (before: it waited the whole tokenizing, seconds for megabytes)."""
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_request_chars=0))
    content = "def f(x):\n    return x + 1  # comment here\n" * 40_000  # 1.8 MB
    async with client(app) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        big = asyncio.create_task(c.post("/v1/chat/completions", timeout=120, json={
            **CHAT, "messages": [{"role": "user", "content": content}]}))
        await asyncio.sleep(0.2)
        worst, polls = 0.0, 0
        while not big.done():
            t0 = loop.time()
            assert (await c.get("/health")).status_code == 200
            worst = max(worst, loop.time() - t0)
            polls += 1
            await asyncio.sleep(0.02)
        r = await big
        took = loop.time() - started
    assert error_of(r, 400)["code"] == "context_length_exceeded"
    print(f"\n/health worst {worst * 1000:.0f} ms over {polls} polls while 1.8 MB were tokenized ({took:.1f} s)")
    # Blocked, /health would wait about as long as the tokenizing; on a machine so loaded
    # that even that takes many seconds, a fifth of it is still far from blocked.
    assert polls >= 3 and worst < max(1.0, 0.2 * took)


# --- the prompt lanes' queues are bounded (--max-queued-prompts) -------------------


def test_a_prompt_lane_queues_at_most_its_bound_beyond_its_threads():
    from codefill.server.state import PromptLane

    lane = PromptLane("small", threads=1, max_waiting=2, thread_name_prefix="test-lane")
    gate, started = threading.Event(), threading.Event()

    def blocked() -> str:
        started.set()
        assert gate.wait(30)
        return "first"

    try:
        first = lane.submit(blocked)
        assert started.wait(30)  # the one thread is busy
        queued = [lane.submit(lambda i=i: i) for i in range(2)]
        assert all(f is not None for f in queued) and lane.waiting() == 2
        assert lane.submit(lambda: "one too many") is None  # refused, nothing queued
        assert lane.waiting() == 2
        # A waiting job whose client went away gives its place back at once.
        assert queued[1].cancel() and lane.waiting() == 1
        again = lane.submit(lambda: "again")
        assert again is not None and lane.submit(lambda: "full again") is None
        gate.set()
        assert first.result(30) == "first" and queued[0].result(30) == 0 and again.result(30) == "again"
        assert lane.waiting() == 0
        assert all(lane.submit(lambda i=i: i).result(30) == i for i in range(5))  # serving on
    finally:
        gate.set()
        lane.shutdown()
    unbounded = PromptLane("large", threads=1, max_waiting=0, thread_name_prefix="test-lane")
    try:
        gate2 = threading.Event()
        futures = [unbounded.submit(lambda: gate2.wait(30)) for _ in range(200)]
        assert all(f is not None for f in futures)  # 0: no bound
        gate2.set()
        assert all(f.result(30) for f in futures)
    finally:
        unbounded.shutdown()


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


async def test_a_full_prompt_queue_refuses_at_once_and_the_server_serves_on(qwen_tokenizer, monkeypatch):
    """Every prompt thread busy and --max-queued-prompts (here 1) requests waiting: the next
    request gets a 503 in OpenAI's shape with Retry-After at once, counted in /metrics; /health
    answers meanwhile, the waiting requests are served, and so is the next one."""
    from codefill.commands.cli import build_parser
    from codefill.server.startup import limits_from
    from codefill.server.serving_completions import CompletionsService
    from codefill.server.state import PREP_THREADS

    assert limits_from(build_parser().parse_args(["serve", "--max-queued-prompts", "1"])) == \
        Limits(max_queued_prompts=1)
    app, state, _ = await make_app(qwen_tokenizer, limits=Limits(max_queued_prompts=1))
    gate = threading.Event()
    busy = threading.Semaphore(0)
    original = CompletionsService._prepare_all

    def held(self, prompts, *args):
        if prompts[0].startswith("# hold"):
            busy.release()
            assert gate.wait(60)
        return original(self, prompts, *args)

    monkeypatch.setattr(CompletionsService, "_prepare_all", held)
    hold = {**FIM, "prompt": "# hold\ndef f():\n    "}
    async with client(app) as c:
        try:
            running = [asyncio.create_task(c.post("/v1/completions", json=hold, timeout=60))
                       for _ in range(PREP_THREADS)]
            for _ in range(PREP_THREADS):  # every small-lane thread is building a held prompt
                assert await asyncio.to_thread(busy.acquire, True, 30)
            waiting = asyncio.create_task(c.post("/v1/completions", json=hold, timeout=60))
            while _metric((await c.get("/metrics")).text, 'codefill_prompts_waiting{lane="small"}') < 1:
                assert not waiting.done(), waiting.result().text
                await asyncio.sleep(0.01)

            for path, body in (("/v1/completions", FIM), ("/v1/completions", {**FIM, "stream": True}),
                               ("/v1/chat/completions", CHAT)):
                r = await c.post(path, json=body)
                err = error_of(r, 503)
                assert err["code"] == "prompt_queue_full" and err["type"] == "service_unavailable", err
                assert "--max-queued-prompts" in err["message"] and "(1 waiting" in err["message"], err
                assert r.headers["retry-after"] == "1"
            assert (await c.get("/health")).status_code == 200
            metrics = (await c.get("/metrics")).text
            assert _metric(metrics, 'codefill_prompt_queue_full_total{lane="small"}') == 3
            assert _metric(metrics, 'codefill_prompt_queue_full_total{lane="large"}') == 0
            # The large lane has a queue of its own: a big request is not refused for the small lane.
            big = {**CHAT, "messages": [{"role": "user", "content": "x = 1\n" * 20_000}]}
            assert error_of(await c.post("/v1/chat/completions", json=big), 400)["code"] == \
                "context_length_exceeded"
        finally:
            gate.set()
        for r in await asyncio.gather(*running, waiting):
            assert r.status_code == 200, r.text
        assert (await c.post("/v1/completions", json=FIM)).status_code == 200
        assert (await c.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert _metric((await c.get("/metrics")).text, 'codefill_prompts_waiting{lane="small"}') == 0


async def test_the_schema_declares_every_error_status_with_the_error_shape(qwen_tokenizer):
    """Generated clients and the API fuzzer read /openapi.json: each status an operation can
    answer is there, errors with OpenAI's error object, and Retry-After where it is sent."""
    app, _, _ = await make_app(qwen_tokenizer)
    async with client(app) as c:
        schema = (await c.get("/openapi.json")).json()
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(schema["components"]["schemas"]["ErrorObject"]["properties"]) == {"message", "type", "param", "code"}
    expected = {
        ("post", "/v1/completions"): {"400", "401", "404", "408", "413", "429", "503"},
        ("post", "/v1/chat/completions"): {"400", "401", "404", "408", "413", "429", "503"},
        ("post", "/v1/next_edit"): {"400", "401", "404", "408", "413", "429", "503"},
        ("get", "/v1/models"): {"401", "408", "429"},
        ("get", "/v1/models/{model_id}"): {"401", "404", "408", "429"},
        ("get", "/metrics"): {"401", "408", "429"},
        ("get", "/health"): {"408", "429", "503"},  # its 503 is the health body, not an error
    }
    found = {(m, p): op for p, item in schema["paths"].items() for m, op in item.items()}
    assert set(found) == set(expected)
    for key, statuses in expected.items():
        responses = found[key]["responses"]
        assert set(responses) == {"200"} | statuses, (key, sorted(responses))
        for status in statuses - ({"503"} if key[1] == "/health" else set()):
            assert responses[status]["content"]["application/json"]["schema"] == error_ref, (key, status)
            assert responses[status]["description"]
        assert "Retry-After" in responses["429"]["headers"]
    assert "--max-queued-prompts" in found["post", "/v1/completions"]["responses"]["503"]["description"]
    assert "--body-timeout" in found["post", "/v1/completions"]["responses"]["408"]["description"]


async def test_a_top_p_too_small_for_float32_still_samples(hf_engine):
    """top_p=1e-300 is valid (> 0) but 0 in float32: the transformers engine kept no token and
    failed the request (a 503 the API fuzzer found); the likeliest token always stays."""
    from codefill.model.engines import SamplingOptions

    ids = hf_engine.tokenizer("def add(a, b):").input_ids
    options = SamplingOptions(max_tokens=3, temperature=1.0, top_p=1e-300, seed=1)
    deltas = [d async for d in hf_engine.generate(ids, options, "tiny-top-p")]
    assert deltas[-1].finish_reason in ("length", "stop")
