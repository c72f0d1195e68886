"""`codefill.max_time_ms`: a completion ends at its time budget with what is complete,
through the real HTTP API on the tiny random model (both engines)."""

from __future__ import annotations

import json

import httpx

PREFIX = "x = 1\n" * 20


def post(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/completions", json={"model": "tiny", "temperature": 0, **body}, timeout=120)


def test_a_spent_budget_ends_the_completion_with_finish_reason_time_limit(tiny_server):
    body = {"prompt": PREFIX, "suffix": "\n", "max_tokens": 200, "codefill": {"max_time_ms": 1}}
    r = post(tiny_server, body)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "time_limit"
    assert r.json()["usage"]["completion_tokens"] < 200

    reasons, text = [], ""
    with httpx.stream("POST", f"{tiny_server.url}/v1/completions", timeout=120,
                      json={"model": "tiny", "temperature": 0, "stream": True, **body}) as s:
        assert s.status_code == 200
        for line in s.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for c in json.loads(line[6:])["choices"]:
                    text += c["text"]
                    reasons.append(c["finish_reason"])
    assert reasons[-1] == "time_limit"

    metrics = httpx.get(f"{tiny_server.url}/metrics", timeout=30).text
    assert 'codefill_aborted_requests_total{reason="time_budget"}' in metrics
    # The engine is free and the server goes on serving.
    r = post(tiny_server, {"prompt": PREFIX, "suffix": "\n", "max_tokens": 4})
    assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] in ("stop", "length")


def test_a_generous_budget_changes_nothing(tiny_server):
    body = {"prompt": PREFIX, "suffix": "\n", "max_tokens": 24, "codefill": {"multiline": True}}
    plain = post(tiny_server, body).json()["choices"][0]
    budget = post(tiny_server, {**body, "codefill": {"multiline": True, "max_time_ms": 600_000}}).json()["choices"][0]
    assert budget == plain


def test_a_bad_budget_is_a_400_naming_the_field(tiny_server):
    for bad in (-1, "soon", 1.5, 600_001):
        r = post(tiny_server, {"prompt": "x", "suffix": "\n", "max_tokens": 2, "codefill": {"max_time_ms": bad}})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["param"] == "codefill.max_time_ms"
