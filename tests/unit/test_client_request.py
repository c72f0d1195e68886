"""The request body codefill's clients send (client/request.py) against the server's model of it."""

from __future__ import annotations

from dataclasses import fields

from codefill.client.request import CodefillFields, CompletionBody
from codefill.server.protocol import CodefillOptions, CompletionRequest


def test_the_codefill_fields_are_the_ones_the_server_reads():
    assert {f.name for f in fields(CodefillFields)} == set(CodefillOptions.model_fields)


def test_unset_fields_are_left_out_and_none_is_sent_as_null():
    assert CodefillFields().to_json() == {}
    assert CodefillFields(multiline=False).to_json() == {"multiline": False}
    sent = CodefillFields(repo_name=None, path="a.py", files=(("b.py", "B"),), rules={"syntax": False}).to_json()
    assert sent == {"repo_name": None, "path": "a.py", "files": [{"path": "b.py", "content": "B"}],
                    "rules": {"syntax": False}}


def test_codefill_is_merged_over_the_extra_bodys_and_the_server_takes_the_result():
    body = CompletionBody("m", "def f():\n    ", 16, 0.0, stop="\n", stream=True, include_usage=True,
                          extra={"codefill": {"rules": {"scope": False}, "multiline": True}, "top_p": 0.5},
                          suffix="\n", codefill=CodefillFields(multiline=False, language="python")).to_json()
    assert body == {
        "model": "m", "prompt": "def f():\n    ", "max_tokens": 16, "temperature": 0.0, "stop": ["\n"],
        "stream": True, "stream_options": {"include_usage": True}, "top_p": 0.5, "suffix": "\n",
        "codefill": {"rules": {"scope": False}, "multiline": False, "language": "python"},
    }
    CompletionRequest.model_validate(body)


def test_a_raw_prompt_sends_no_suffix_and_no_codefill():
    body = CompletionBody("m", "<|fim_prefix|>x", 8, 0.2, stream=True, stop_token_ids=[1, 2]).to_json()
    assert body == {"model": "m", "prompt": "<|fim_prefix|>x", "max_tokens": 8, "temperature": 0.2, "stream": True,
                    "stop_token_ids": [1, 2]}
