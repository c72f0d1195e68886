"""A model without FIM tokens: a clear 400 by default, a chat-built fill with --fim-fallback instruct."""

from __future__ import annotations

import httpx
import pytest

from codefill.server.app import build_app
from codefill.server.state import ServerConfig, ServingState


def app_without_fim(engine, fallback: str):
    state = ServingState(ServerConfig(served_model_name="tiny", model_path="tiny", fim_fallback=fallback), engine)
    state.ready = True
    state.fim_template = None  # as for a tokenizer with no FIM tokens
    return build_app(state, start_engine=False)


async def post(app, body):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codefill") as c:
        return await c.post("/v1/completions", json=body, timeout=60)


BODY = {"model": "tiny", "prompt": "def add(a, b):\n    ", "suffix": "\n", "max_tokens": 8}


async def test_suffix_is_refused_with_a_reason(hf_engine):
    r = await post(app_without_fim(hf_engine, "none"), BODY)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "fim_not_supported" and err["param"] == "suffix"
    assert "--fim-fallback instruct" in err["message"]


async def test_plain_completion_still_works_without_fim(hf_engine):
    r = await post(app_without_fim(hf_engine, "none"), {k: v for k, v in BODY.items() if k != "suffix"})
    assert r.status_code == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_instruct_fallback_answers(hf_engine, stream):
    r = await post(app_without_fim(hf_engine, "instruct"), {**BODY, "stream": stream})
    assert r.status_code == 200, r.text
    if stream:
        assert r.text.rstrip().endswith("data: [DONE]")
    else:
        assert r.json()["usage"]["prompt_tokens"] > 30  # the chat prompt, not the bare code
