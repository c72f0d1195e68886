"""Limits and API keys as a client meets them, on the in-process app with a controlled engine.

Every refusal must come in OpenAI's error shape, say the limit and the flag that
changes it, and leave the server serving the next request.
"""

from __future__ import annotations

import asyncio
import hmac
import json

import httpx
import pytest

from codefill.server.app import build_app
from codefill.server.auth import KeyFileError, collect_api_keys, match_key, read_key_file, redact_argv
from codefill.commands.cli import build_parser
from codefill.server.startup import limits_from
from codefill.server.limits import InFlight, Limits
from codefill.server.state import ServerConfig, ServingState
from tests.fake_engine import ControlledEngine


async def make_app(tokenizer, *, limits: Limits | None = None, keys: tuple[str, ...] = (), max_model_len=2048):
    engine = ControlledEngine(tokenizer, max_model_len=max_model_len)
    await engine.start()
    config = ServerConfig(served_model_name="m", model_path="m", api_keys=keys, limits=limits or Limits())
    state = ServingState(config, engine)
    state._prepare_templates()
    state.ready = True
    return build_app(state, start_engine=False), state, engine


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codefill", timeout=10)


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    return err


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


OK_BODY = {"model": "m", "prompt": "def f():", "max_tokens": 2}


# --- request body size ------------------------------------------------------


async def test_body_over_the_limit_gets_413_from_its_content_length(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_body_bytes=1000))
    async with client(app) as c:
        r = await c.post("/v1/completions", json={**OK_BODY, "prompt": "x" * 2000})
        err = error_of(r, 413)
        assert "1000 bytes" in err["message"] and "--max-body-bytes" in err["message"]
        assert err["code"] == "request_too_large"
        assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200


async def test_chunked_body_over_the_limit_gets_413_without_a_content_length(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_body_bytes=1000))

    async def chunks(n: int):
        body = json.dumps({**OK_BODY, "prompt": "y" * n}).encode()
        for i in range(0, len(body), 300):
            yield body[i:i + 300]

    async with client(app) as c:
        r = await c.post("/v1/completions", content=chunks(3000), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        assert "--max-body-bytes" in error_of(r, 413)["message"]
        small = await c.post("/v1/completions", content=chunks(10), headers={"content-type": "application/json"})
        assert small.status_code == 200, small.text


# --- per-request limits -----------------------------------------------------


@pytest.mark.parametrize("path, body, flag, code", [
    ("/v1/completions", {**OK_BODY, "max_tokens": 65}, "--max-tokens-limit", "max_tokens_exceeded"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 65},
     "--max-tokens-limit", "max_tokens_exceeded"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                              "max_completion_tokens": 99}, "--max-tokens-limit", "max_tokens_exceeded"),
    ("/v1/completions", {**OK_BODY, "n": 3}, "--max-n", "n_exceeded"),
    ("/v1/completions", {**OK_BODY, "prompt": ["a", "b", "c"]}, "--max-n", "n_exceeded"),
    ("/v1/completions", {**OK_BODY, "prompt": ["a", "b"], "n": 2}, "--max-n", "n_exceeded"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 3},
     "--max-n", "n_exceeded"),
    ("/v1/completions", {**OK_BODY, "prompt": "x = 1\n" * 100}, "--max-prompt-tokens", "prompt_too_long"),
    ("/v1/completions", {**OK_BODY, "prompt": list(range(1, 60))}, "--max-prompt-tokens", "prompt_too_long"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x = 1\n" * 100}]},
     "--max-prompt-tokens", "prompt_too_long"),
    # FIM trims far lines to fit, but the line at the cursor alone is over the limit here.
    ("/v1/completions", {**OK_BODY, "prompt": "y = " + "1 + " * 100, "suffix": "\n"},
     "--max-prompt-tokens", "prompt_too_long"),
])
async def test_requests_over_a_limit_get_400_naming_the_flag(qwen_tokenizer, path, body, flag, code):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_tokens=64, max_n=2, max_prompt_tokens=50))
    async with client(app) as c:
        err = error_of(await c.post(path, json=body), 400)
        assert flag in err["message"] and err["code"] == code
        assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200


async def test_at_the_limits_requests_pass(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_tokens=4, max_n=2, max_prompt_tokens=50))
    async with client(app) as c:
        r = await c.post("/v1/completions", json={**OK_BODY, "max_tokens": 4, "n": 2})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 8


async def test_fim_prompts_are_trimmed_to_max_prompt_tokens_not_refused(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_prompt_tokens=200))
    prefix = "".join(f"v{i} = {i}\n" for i in range(500)) + "def f():\n    "
    body = {"model": "m", "prompt": prefix, "suffix": "\nprint(f())\n", "max_tokens": 4,
            "codefill": {"postprocess": False}}
    async with client(app) as c:
        r = await c.post("/v1/completions", json=body)
        assert r.status_code == 200, r.text
        assert 100 < r.json()["usage"]["prompt_tokens"] <= 200


async def test_chat_without_max_tokens_is_capped_by_the_limit(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_tokens=5))
    async with client(app) as c:
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 5


# --- requests in flight per key / per client address ------------------------


async def test_too_many_requests_in_flight_get_429_with_retry_after(qwen_tokenizer):
    app, _, engine = await make_app(qwen_tokenizer, limits=Limits(max_concurrent_per_key=2))
    engine.hold()
    async with client(app) as c:
        first = [asyncio.create_task(c.post("/v1/completions", json=OK_BODY)) for _ in range(2)]
        await wait_for(lambda: len(engine.in_flight) == 2)
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        err = error_of(r, 429)
        assert r.headers["retry-after"] == "1"
        assert "2 requests in flight" in err["message"] and "--max-concurrent-per-key" in err["message"]
        assert err["type"] == "rate_limit_error"
        # Cheap endpoints are never counted: an editor may list models while completing.
        assert (await c.get("/v1/models")).status_code == 200
        engine.release()
        assert [t.status_code for t in await asyncio.gather(*first)] == [200, 200]
        assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200


async def test_each_key_has_its_own_cap(qwen_tokenizer):
    app, _, engine = await make_app(qwen_tokenizer, limits=Limits(max_concurrent_per_key=1), keys=("k1", "k2"))
    engine.hold()
    h1, h2 = {"Authorization": "Bearer k1"}, {"Authorization": "Bearer k2"}
    async with client(app) as c:
        busy = asyncio.create_task(c.post("/v1/completions", json=OK_BODY, headers=h1))
        await wait_for(lambda: len(engine.in_flight) == 1)
        err = error_of(await c.post("/v1/completions", json=OK_BODY, headers=h1), 429)
        assert "this API key" in err["message"] and "k1" not in err["message"]
        other = asyncio.create_task(c.post("/v1/completions", json=OK_BODY, headers=h2))
        await wait_for(lambda: len(engine.in_flight) == 2)  # admitted, not refused
        engine.release()
        assert (await busy).status_code == 200 and (await other).status_code == 200


async def test_a_refused_or_failed_request_frees_its_slot(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, limits=Limits(max_concurrent_per_key=1, max_n=1))
    async with client(app) as c:
        for _ in range(3):
            assert (await c.post("/v1/completions", json={**OK_BODY, "n": 5})).status_code == 400
            assert (await c.post("/v1/completions", json={**OK_BODY, "model": "nope"})).status_code == 404
        assert (await c.post("/v1/completions", json=OK_BODY)).status_code == 200


def test_in_flight_counter_is_per_client_and_zero_means_unlimited():
    cap = InFlight(1)
    assert cap.try_enter("a") and not cap.try_enter("a") and cap.try_enter("b")
    cap.leave("a")
    assert cap.try_enter("a") and cap.count("a") == 1
    unlimited = InFlight(0)
    assert all(unlimited.try_enter("a") for _ in range(1000))


# --- API keys -----------------------------------------------------------------


async def test_with_keys_everything_but_health_needs_one(qwen_tokenizer):
    app, _, _ = await make_app(qwen_tokenizer, keys=("alpha", "beta"))
    async with client(app) as c:
        assert (await c.get("/health")).status_code == 200
        for method, path in (("POST", "/v1/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
                             ("GET", "/v1/models/m"), ("GET", "/metrics"), ("GET", "/openapi.json"),
                             ("GET", "/docs"), ("GET", "/no/such/path")):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "alpha"},
                            {"Authorization": "Bearer alphab"}, {"Authorization": "Bearer "}):
                r = await c.request(method, path, json=OK_BODY, headers=headers)
                err = error_of(r, 401)
                assert err["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
        for key in ("alpha", "beta"):
            r = await c.post("/v1/completions", json=OK_BODY, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200


def test_every_key_is_compared_even_after_a_match(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = ("k0", "k1", "k2", "k3")
    assert match_key("Bearer k0", keys) == 0
    assert len(calls) == 4
    calls.clear()
    assert match_key("Bearer nope", keys) is None and len(calls) == 4
    assert match_key("bearer k2", keys) == 2
    assert match_key(None, keys) is None and match_key("k1", keys) is None


def test_keys_come_from_flags_files_and_the_environment(tmp_path):
    f = tmp_path / "keys"
    f.write_text("# team keys\nfile-one\n\n  file-two  \n# old: revoked-key\nflag-one\n")
    keys = collect_api_keys(["flag-one"], [f], environ={"CODEFILL_API_KEY": "env-one, env-two,"})
    assert keys == ("flag-one", "file-one", "file-two", "env-one", "env-two")
    assert "revoked-key" not in keys


def test_an_empty_or_missing_key_file_stops_the_server(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(KeyFileError, match="holds no key"):
        read_key_file(empty)
    with pytest.raises(KeyFileError, match="cannot read"):
        read_key_file(tmp_path / "missing")


def test_reports_record_the_command_line_without_keys():
    argv = ["bench", "--url", "u", "--api-key", "s3cret", "--compare-api-key=other", "--model", "m"]
    assert redact_argv(argv) == ["bench", "--url", "u", "--api-key", "***", "--compare-api-key=***", "--model", "m"]


def test_keys_never_show_in_the_config_repr():
    config = ServerConfig(served_model_name="m", model_path="m", api_keys=("sekrit-key",))
    assert "sekrit-key" not in repr(config)


def test_serve_flags_build_the_limits():
    args = build_parser().parse_args(["serve", "--max-body-bytes", "5", "--max-prompt-tokens", "6",
                                      "--max-tokens-limit", "7", "--max-n", "0", "--max-concurrent-per-key", "9",
                                      "--api-key-file", "k.txt", "--restart-on-failure"])
    assert limits_from(args) == Limits(max_body_bytes=5, max_prompt_tokens=6, max_tokens=7, max_n=0,
                                        max_concurrent_per_key=9)
    assert args.api_key_file == ["k.txt"] and args.restart_on_failure
    defaults = limits_from(build_parser().parse_args(["serve"]))
    assert defaults == Limits() and defaults.max_body_bytes > 1_000_000 and defaults.max_n >= 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-n", "-1"])
