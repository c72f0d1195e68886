"""Limits on the real server (HTTP through uvicorn, the tiny model on transformers).

The messages and every limit's edge are checked in-process (tests/unit/test_limits_and_keys.py);
here: the flags reach the server, a declared or streamed oversized body is refused over a
real socket, and an abandoned stream gives its concurrency slot back.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.e2e.servers import ServerProcess

FIM = {"prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))", "codefill": {"postprocess": False}}


@pytest.fixture(scope="module")
def limited_server(tiny_model_path):
    server = ServerProcess("--model", tiny_model_path, "--engine", "hf", "--max-model-len", "2048",
                           "--served-model-name", "tiny", "--max-body-bytes", "4096", "--max-tokens-limit", "1500",
                           "--max-n", "2", "--max-prompt-tokens", "1000", "--max-concurrent-per-key", "1")
    yield server
    server.stop()


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


def test_flags_set_the_limits(limited_server):
    url = f"{limited_server.url}/v1/completions"
    assert "--max-tokens-limit" in error_of(httpx.post(url, json={"model": "tiny", "prompt": "x", "max_tokens": 1501}),
                                            400)["message"]
    assert "--max-n" in error_of(httpx.post(url, json={"model": "tiny", "prompt": "x", "n": 3}), 400)["message"]
    long_prompt = {"model": "tiny", "prompt": "x = 1\n" * 450, "max_tokens": 1}  # ~1800 tokens, ~3 KB
    assert "--max-prompt-tokens" in error_of(httpx.post(url, json=long_prompt), 400)["message"]
    r = httpx.post(url, json={"model": "tiny", "prompt": "x", "max_tokens": 2, "n": 2})
    assert r.status_code == 200 and len(r.json()["choices"]) == 2


def test_a_declared_huge_body_is_refused_before_it_is_sent(limited_server):
    head = (b"POST /v1/completions HTTP/1.1\r\nHost: codefill\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    with socket.create_connection(("127.0.0.1", limited_server.port), timeout=10) as s:
        s.sendall(head)  # and not one byte of the body
        reply = b""
        while chunk := s.recv(65536):  # the server answers and closes the connection
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"connection: close" in reply.lower()
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert "--max-body-bytes" in body["error"]["message"]


def test_a_chunked_body_is_counted_without_a_content_length(limited_server):
    payload = json.dumps({"model": "tiny", "prompt": "y" * 10_000, "max_tokens": 1}).encode()

    def chunks():
        for i in range(0, len(payload), 1000):
            yield payload[i:i + 1000]

    r = httpx.post(f"{limited_server.url}/v1/completions", content=chunks(),
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "4096 bytes" in error_of(r, 413)["message"]
    ok = httpx.post(f"{limited_server.url}/v1/completions", json={"model": "tiny", "prompt": "x", "max_tokens": 1})
    assert ok.status_code == 200


def test_too_many_in_flight_get_429_and_an_abandoned_stream_frees_its_slot(limited_server):
    url = f"{limited_server.url}/v1/completions"
    body = {"model": "tiny", "max_tokens": 1500, "stream": True, **FIM}
    with httpx.stream("POST", url, json=body, timeout=60) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
        refused = httpx.post(url, json={"model": "tiny", "prompt": "x", "max_tokens": 1})
        err = error_of(refused, 429)
        assert refused.headers["retry-after"] == "1"
        assert "--max-concurrent-per-key" in err["message"]
    # The client left: its request is aborted and the slot is free again within moments.
    deadline = time.monotonic() + 10
    while True:
        r = httpx.post(url, json={"model": "tiny", "prompt": "x", "max_tokens": 1})
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200, r.text
