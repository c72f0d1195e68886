"""The HTTP API as clients see it, against the real server on a tiny random model.

Runs once per engine. The tiny model writes gibberish, so these tests check
shapes, counts, errors and lifecycle, not the text.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

FIM = {"prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))"}
RAW = {"codefill": {"postprocess": False}}


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def post(server, path: str, body, **kw) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=120, **kw)


def assert_error_shape(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    return err


def wait_engine_idle(server, timeout: float = 15) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = server.metric("codefill_engine_requests_in_flight")
        if value == 0:
            return 0
        time.sleep(0.1)
    return server.metric("codefill_engine_requests_in_flight")


def test_fim_completion_has_openai_shape_and_real_usage(tiny_server):
    r = client(tiny_server).completions.create(model="tiny", max_tokens=8, extra_body=RAW, **FIM)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-")
    assert len(r.choices) == 1 and r.choices[0].index == 0
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5
    assert 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_usage_counts_the_real_fim_prompt_tokens(tiny_server, qwen_tokenizer):
    r = client(tiny_server).completions.create(model="tiny", max_tokens=4, extra_body=RAW, **FIM)
    expected = f"<|fim_prefix|>{FIM['prompt']}<|fim_suffix|>{FIM['suffix']}<|fim_middle|>"
    assert r.usage.prompt_tokens == len(qwen_tokenizer(expected).input_ids)


def test_stream_ends_with_done_and_matches_non_stream(tiny_server):
    body = {"model": "tiny", "max_tokens": 12, "temperature": 0, **FIM, **RAW}
    whole = post(tiny_server, "/v1/completions", body).json()["choices"][0]["text"]
    pieces, lines = [], []
    with httpx.stream("POST", f"{tiny_server.url}/v1/completions", json={**body, "stream": True}, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line:
                lines.append(line)
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        chunk = json.loads(line.removeprefix("data: "))
        assert chunk["object"] == "text_completion"
        pieces.append(chunk["choices"][0]["text"])
    assert "".join(pieces) == whole
    assert json.loads(lines[-2].removeprefix("data: "))["choices"][0]["finish_reason"] in ("stop", "length")


def test_stream_usage_chunk_when_asked(tiny_server):
    stream = client(tiny_server).completions.create(
        model="tiny", max_tokens=5, stream=True, stream_options={"include_usage": True}, extra_body=RAW, **FIM
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1


def test_prompt_list_and_n_give_every_choice(tiny_server):
    r = post(tiny_server, "/v1/completions",
             {"model": "tiny", "prompt": ["import os\n", "class A:\n"], "n": 2, "max_tokens": 3,
              "temperature": 0.8, "seed": 7})
    assert r.status_code == 200, r.text
    assert sorted(c["index"] for c in r.json()["choices"]) == [0, 1, 2, 3]


def test_chat_streams_through_the_openai_client(tiny_server):
    stream = client(tiny_server).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Write hello world in C"}], max_tokens=8, stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_non_stream_shape(tiny_server):
    r = client(tiny_server).chat.completions.create(
        model="tiny", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        max_tokens=6,
    )
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.usage.prompt_tokens > 10


def test_models_health_metrics(tiny_server):
    assert [m.id for m in client(tiny_server).models.list().data] == ["tiny"]
    assert httpx.get(f"{tiny_server.url}/health").json()["status"] == "ok"
    text = httpx.get(f"{tiny_server.url}/metrics").text
    for name in ("codefill_requests_total", "codefill_request_latency_seconds_bucket",
                 "codefill_time_to_first_token_seconds_bucket", "codefill_generated_tokens_total",
                 "codefill_aborted_requests_total", "codefill_engine_requests_in_flight"):
        assert name in text


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"model": "tiny", "prompt": "x", "max_tokens": 2, "logprobs": 3}, 400, "logprobs"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 2, "frobnicate": 1}, 400, "frobnicate"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "tiny", "prompt": "x", "temperature": 9}, 400, "temperature"),
        ({"model": "tiny"}, 400, "prompt"),
        ({"model": "gpt-7", "prompt": "x"}, 404, "gpt-7"),
        ({"model": "tiny", "prompt": "x", "stop": ["a"] * 9}, 400, "stop"),
        ({"model": "tiny", "prompt": [10 ** 9], "max_tokens": 2}, 400, "vocabulary"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 100000}, 400, "100000"),
    ],
)
def test_bad_requests_get_openai_errors_and_the_server_goes_on(tiny_server, body, status, needle):
    err = assert_error_shape(post(tiny_server, "/v1/completions", body), status)
    assert needle in err["message"]
    ok = post(tiny_server, "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 2})
    assert ok.status_code == 200


def test_malformed_json_is_a_400(tiny_server):
    r = httpx.post(f"{tiny_server.url}/v1/completions", content=b"{not json", timeout=10,
                   headers={"content-type": "application/json"})
    assert_error_shape(r, 400)


def test_too_long_prompt_says_the_numbers(tiny_server):
    long_line = "x = 1\n" * 5000
    r = post(tiny_server, "/v1/completions", {"model": "tiny", "prompt": long_line, "max_tokens": 16})
    err = assert_error_shape(r, 400)
    assert err["code"] == "context_length_exceeded"
    assert "2048" in err["message"]


def test_fim_trims_far_lines_instead_of_failing(tiny_server):
    prefix = "".join(f"v{i} = {i}\n" for i in range(3000)) + "def f():\n    "
    r = post(tiny_server, "/v1/completions",
             {"model": "tiny", "prompt": prefix, "suffix": "\nprint(f())\n", "max_tokens": 16, **RAW})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] <= 2048 - 16


def test_disconnect_mid_stream_aborts_the_engine_request(tiny_server):
    aborted_before = tiny_server.metric("codefill_aborted_requests_total")
    body = {"model": "tiny", "max_tokens": 1500, "stream": True, **FIM, **RAW}
    with httpx.stream("POST", f"{tiny_server.url}/v1/completions", json=body, timeout=60) as r:
        got = 0
        for line in r.iter_lines():
            got += line.startswith("data: ")
            if got >= 3:
                break
    assert wait_engine_idle(tiny_server) == 0
    assert tiny_server.metric("codefill_aborted_requests_total") > aborted_before


def test_disconnect_while_waiting_for_a_whole_completion_aborts_it(tiny_server):
    body = {"model": "tiny", "max_tokens": 1500, **FIM, **RAW}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{tiny_server.url}/v1/completions", json=body, timeout=httpx.Timeout(10, read=1.0))
    assert wait_engine_idle(tiny_server) == 0
