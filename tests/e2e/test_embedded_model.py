"""The product as a user first meets it: `codefill serve` on the embedded model."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

MODEL = "qwen2.5-coder-0.5b-instruct"


def test_readme_curl_example_fills_in_the_middle(embedded_server):
    # The exact body of the README's curl example.
    body = {"model": MODEL, "prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))", "max_tokens": 32}
    r = httpx.post(f"{embedded_server.url}/v1/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "return a + b"


def test_openai_client_fim_of_a_simple_function(embedded_server):
    c = openai.OpenAI(base_url=f"{embedded_server.url}/v1", api_key="unused", max_retries=0)
    prefix = 'def factorial(n: int) -> int:\n    """Return n! for n >= 0."""\n    '
    r = c.completions.create(model=MODEL, prompt=prefix, suffix="\n\n\nprint(factorial(5))\n", max_tokens=64)
    body = r.choices[0].text
    assert "print(factorial(5))" not in body, "post-processing keeps the suffix out of the middle"
    namespace: dict = {}
    exec(prefix + body, namespace)  # noqa: S102 - the model's answer, run as a test
    assert namespace["factorial"](5) == 120, body
    assert namespace["factorial"](0) == 1, body


def test_streamed_chat_answer(embedded_server):
    c = openai.OpenAI(base_url=f"{embedded_server.url}/v1", api_key="unused", max_retries=0)
    stream = c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Write a Python function `square(x)` that returns x squared. "
                                              "Only the code."}],
        max_tokens=80,
        stream=True,
    )
    pieces = [ch.choices[0].delta.content or "" for ch in stream if ch.choices]
    answer = "".join(pieces)
    assert len([p for p in pieces if p]) > 3, "the answer should arrive in pieces"
    assert "def square" in answer and "x" in answer
