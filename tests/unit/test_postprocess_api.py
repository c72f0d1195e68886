"""Post-processing as the API applies it: `codefill.rules`, `codefill.language`, streamed
and whole, on the in-process app with an engine that writes a given completion."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from codefill.model.engines import Delta, SamplingOptions
from codefill.model.postprocess import RULES, PostprocessOptions, postprocess
from codefill.server.app import build_app
from codefill.server.limits import Limits
from codefill.server.state import ServerConfig, ServingState
from tests.fake_engine import ControlledEngine


class ScriptedEngine(ControlledEngine):
    """Writes `script`, one piece per token, and counts the tokens it was asked for."""

    def __init__(self, tokenizer, script: list[str]) -> None:
        super().__init__(tokenizer)
        self.script = script
        self.written: list[int] = []

    async def generate(
        self, prompt_token_ids: Sequence[int], options: SamplingOptions, request_id: str
    ) -> AsyncIterator[Delta]:
        pieces = self.script[: options.max_tokens]
        written = 0
        try:
            for i, piece in enumerate(pieces, 1):
                written = i
                last = i == len(pieces)
                yield Delta(piece, len(prompt_token_ids), i, ("length" if i == options.max_tokens else "stop")
                            if last else None)
        finally:
            self.written.append(written)


async def make_app(tokenizer, script: list[str]):
    engine = ScriptedEngine(tokenizer, script)
    await engine.start()
    config = ServerConfig(served_model_name="m", model_path="m", limits=Limits())
    state = ServingState(config, engine)
    state._prepare_templates()
    state.ready = True
    return build_app(state, start_engine=False), engine


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codefill", timeout=10)


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


async def complete(c: httpx.AsyncClient, body: dict) -> str:
    r = await c.post("/v1/completions", json={"model": "m", "max_tokens": 200, **body})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


async def complete_streamed(c: httpx.AsyncClient, body: dict) -> str:
    text = ""
    async with c.stream("POST", "/v1/completions", json={"model": "m", "max_tokens": 200, "stream": True,
                                                         **body}) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:])["choices"]:
                    text += choice["text"]
    return text


# The santacoder layout of HumanEval-FIM: no newline between prefix and middle, nor middle and suffix.
JAVA_PREFIX = ("public class Sum {\n    public static int sum(int[] a) {\n        int result = 0;\n"
               "        for (int x : a) {\n            result += x;\n        }")
JAVA_SUFFIX = "    }\n}\n"
JAVA_ANSWER = "\n        return result;\n    }\n}\n\nclass Other {\n    int x;\n}\n" * 3


async def test_the_santacoder_layout_keeps_the_statement_streamed_and_whole_and_stops_early(qwen_tokenizer):
    script = pieces(JAVA_ANSWER)
    app, engine = await make_app(qwen_tokenizer, script)
    body = {"prompt": JAVA_PREFIX, "suffix": JAVA_SUFFIX}
    async with client(app) as c:
        assert await complete(c, body) == "\n        return result;\n"
        assert await complete_streamed(c, body) == "\n        return result;\n"
    assert all(n < 15 for n in engine.written), engine.written  # the engine stopped at the cut
    assert len(script) > 50


async def test_rules_switch_off_per_request(qwen_tokenizer):
    prefix, suffix = "def add(a, b):\n    ", "\n\nprint(add(1, 2))"
    answer = "return a + b   \n\nprint(add(5, 3))\nprint(add(1, 2))\n"
    app, _ = await make_app(qwen_tokenizer, pieces(answer))
    async with client(app) as c:
        assert await complete(c, {"prompt": prefix, "suffix": suffix}) == "return a + b"
        for off in [("scope",), ("scope", "repeat_suffix"), ("whitespace",), ("scope", "whitespace"), RULES]:
            rules = {name: name not in off for name in RULES}
            body = {"prompt": prefix, "suffix": suffix, "codefill": {"rules": rules}}
            want = postprocess(answer, prefix, suffix, PostprocessOptions(disabled_rules=frozenset(off)))
            assert await complete(c, body) == want
            assert await complete_streamed(c, body) == want
        everything_off = {"prompt": prefix, "suffix": suffix, "codefill": {"rules": dict.fromkeys(RULES, False)}}
        assert await complete(c, everything_off) == answer
        on = {"prompt": prefix, "suffix": suffix, "codefill": {"rules": {"scope": True}}}
        assert await complete(c, on) == "return a + b"


async def test_an_unknown_rule_is_a_400_that_lists_the_known_ones(qwen_tokenizer):
    app, _ = await make_app(qwen_tokenizer, ["x"])
    async with client(app) as c:
        r = await c.post("/v1/completions", json={"model": "m", "prompt": "a", "suffix": "b",
                                                  "codefill": {"rules": {"scope": False, "frobnicate": True}}})
        assert r.status_code == 400
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["param"] == "codefill.rules" and err["type"] == "invalid_request_error"
        assert "frobnicate" in err["message"] and "scope" in err["message"]
        assert all(name in err["message"] for name in RULES)
        # the server goes on serving
        assert (await c.post("/v1/completions", json={"model": "m", "prompt": "a", "max_tokens": 1})).status_code == 200


@pytest.mark.parametrize("codefill", [{"language": "python"}, {"path": "src/stats.py"}, {"language": "PYTHON"}])
async def test_the_syntax_rule_needs_the_language_from_the_request(qwen_tokenizer, codefill):
    prefix, suffix = "def f(xs):\n    ", "\n"
    answer = "total = sum(xs)\n    if total >"  # the token limit cut the model mid-line
    app, _ = await make_app(qwen_tokenizer, pieces(answer))
    body = {"prompt": prefix, "suffix": suffix, "codefill": {"multiline": True}}
    async with client(app) as c:
        assert await complete(c, body) == answer
        body["codefill"] = {"multiline": True, **codefill}
        assert await complete(c, body) == "total = sum(xs)"
        assert await complete_streamed(c, body) == "total = sum(xs)"
        body["codefill"]["rules"] = {"syntax": False}
        assert await complete(c, body) == answer


async def test_an_unknown_language_only_means_no_syntax_rule(qwen_tokenizer):
    answer = "a = 1\n    b = ("
    app, _ = await make_app(qwen_tokenizer, pieces(answer))
    body = {"prompt": "def f():\n    ", "suffix": "\n", "codefill": {"multiline": True, "language": "klingon"}}
    async with client(app) as c:
        assert await complete(c, body) == answer
