"""`codefill.rules` and `codefill.language` through the real HTTP API, on the tiny random model.

The model writes gibberish, but greedily the same gibberish each time: so whatever a
request switches off, the server's text must be that raw text post-processed here with
the same rules off, streamed or not.
"""

from __future__ import annotations

import json

import httpx

from codefill.model.postprocess import RULES, PostprocessOptions, postprocess

# The tiny model writes newlines after this prefix, so the rules have lines to work on.
PREFIX = "x = 1\n" * 20
SUFFIX = "\n}\n"


def post(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/completions", json={"model": "tiny", "temperature": 0, **body}, timeout=120)


def text_of(server, body: dict) -> str:
    r = post(server, body)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def streamed_text_of(server, body: dict) -> str:
    text = ""
    with httpx.stream("POST", f"{server.url}/v1/completions", timeout=120,
                      json={"model": "tiny", "temperature": 0, "stream": True, **body}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                text += "".join(c["text"] for c in json.loads(line[6:])["choices"])
    return text


def test_an_unknown_rule_is_a_400_in_openai_shape(tiny_server):
    r = post(tiny_server, {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 4,
                           "codefill": {"rules": {"no_such_rule": False}}})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["param"] == "codefill.rules" and "no_such_rule" in err["message"]
    assert all(name in err["message"] for name in RULES)
    assert post(tiny_server, {"prompt": "x", "max_tokens": 2}).status_code == 200


def test_each_rule_switch_reaches_the_post_processor(tiny_server):
    multiline = False
    base = {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 60}
    raw = text_of(tiny_server, {**base, "codefill": {"postprocess": False}})
    assert "\n" in raw
    off_sets = [(), ("scope",), ("repeat_suffix", "closing_line"), ("syntax", "whitespace"), RULES]
    texts = set()
    for off in off_sets:
        codefill = {"multiline": multiline, "language": "python", "rules": {r: False for r in off}}
        want = postprocess(raw, PREFIX, SUFFIX, PostprocessOptions(multiline=multiline, language="python",
                                                                   disabled_rules=frozenset(off)))
        assert text_of(tiny_server, {**base, "codefill": codefill}) == want, off
        assert streamed_text_of(tiny_server, {**base, "codefill": codefill}) == want, off
        texts.add(want)
    assert len(texts) > 1, "no rule changed the text: the test would not see a switch that does nothing"
    everything_off = {"multiline": multiline, "rules": dict.fromkeys(RULES, False)}
    assert text_of(tiny_server, {**base, "codefill": everything_off}) == raw
