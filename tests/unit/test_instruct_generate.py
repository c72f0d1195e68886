"""Generation for `codefill data instruct`: prompts and their parsers, the answer store, resuming."""

from __future__ import annotations

import json

import pytest

from codefill.jobs.instruct_data.generate import GenerationError, GenRequest, ModelClient, ResponseStore, generate_all
from codefill.jobs.instruct_data.prompts import (
    CONCEPTS,
    SNIPPET,
    instruction_prompt,
    parse_instruction,
    response_prompt,
)
from codefill.jobs.instruct_data.responses import parse_response
from tests.fakes import FakeServer
from tests.instruct_fakes import MODEL, instruct_app, make_seed_repo, requests_of, response_text

SEED = 'def ok_twice(x):\n    """Twice x."""\n    return 2 * x\n'


def test_the_seed_prompt_ends_where_the_model_writes_concepts():
    prompt = instruction_prompt(SEED, key="0:s1")
    text = prompt.as_text()
    assert text.endswith(f"{SNIPPET}\n```python\n{SEED}```\n\n{CONCEPTS}\n")
    assert text.count(SNIPPET) == 4  # three examples and the seed
    assert prompt.stop == (f"\n{SNIPPET}",)
    messages = prompt.as_messages()
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert messages[-1]["content"].endswith(CONCEPTS)
    assert instruction_prompt(SEED, key="0:s1") == prompt  # deterministic
    orders = {tuple(s[0] for s in instruction_prompt(SEED, key=f"0:s{i}").shots) for i in range(20)}
    assert len(orders) > 1  # the examples' order varies per item


def test_parse_instruction():
    parsed = parse_instruction("loops, sets\n\n### Instruction\nWrite `f`.\n\n### Snippet\nmore")
    assert parsed.concepts == "loops, sets" and parsed.instruction == "Write `f`."
    assert parse_instruction("no instruction here") is None
    assert parse_instruction("c\n### Instruction\n   \n") is None


def test_tests_that_check_nothing_do_not_count_as_tests():
    def answer(tests: str) -> str:
        return f"[Implementation]\n```python\ndef f():\n    return 1\n```\n\n[Tests]\n```python\n{tests}\n```"

    # Real answers of the 0.5B model on rich that "passed": they only call or print.
    for unchecked in ('mc = MyClass("Hello")\nmc.print()', 'f()\nprint(f())', "with open('out.txt') as fh:\n    fh.read()"):
        assert parse_response(answer(unchecked)) == (None, "no_assertions"), unchecked
    for checked in ("assert f() == 1", "import unittest\nunittest.TestCase().assertEqual(f(), 1)",
                    "import pytest\nwith pytest.raises(ValueError):\n    f(-1)",
                    "import numpy.testing as npt\nnpt.assert_allclose(f(), 1)", "def broken(:\n  pass"):
        assert parse_response(answer(checked))[1] == "ok", checked


def test_parse_response_takes_the_implementation_and_the_tests():
    parsed, why = parse_response(response_text("ok_f", 0))
    assert why == "ok"
    assert parsed.code == "def ok_f(*args, **kwargs):\n    return 42\n"
    assert parsed.tests == "assert ok_f() == 42\nassert ok_f(1, 2) == 42\n"
    assert parsed.program().startswith(parsed.code) and parsed.program().endswith(parsed.tests)
    assert parse_response(response_text("notests_f", 0)) == (None, "no_tests")
    assert parse_response("I would write a loop.") == (None, "no_code")
    # no labels: the last of several code blocks is the tests
    unlabeled, why = parse_response("```python\ndef f():\n    return 1\n```\nand\n```python\nassert f() == 1\n```")
    assert why == "ok" and unlabeled.tests == "assert f() == 1\n"
    # a base model that goes on into the next example is cut there; "###" comments in code are kept
    code = "[Implementation]\n```python\n### helper\ndef f():\n    return 1\n```\n[Tests]\n```python\nassert f()\n```"
    parsed, _ = parse_response(code + "\n\n### Instruction\nnext task")
    assert "### helper" in parsed.code and "next task" not in parsed.text


def test_response_prompt_shape():
    prompt = response_prompt("Write `f`.", key="k")
    assert prompt.as_text().endswith("### Instruction\nWrite `f`.\n\n### Response\n")
    assert "[Tests]" in prompt.shots[0][1]


def test_the_request_key_is_the_request():
    prompt = instruction_prompt(SEED, key="0:s1")
    req = GenRequest("instruction", "s1", prompt, 256, 0.7, seed=0)
    client = ModelClient("http://x", "m")
    assert req.key("completions", "m") == GenRequest("instruction", "other-id", prompt, 256, 0.7, seed=0).key(
        "completions", "m")
    different = {GenRequest("instruction", "s1", prompt, 256, 0.7, seed=1).key("completions", "m"),
                 GenRequest("instruction", "s1", prompt, 128, 0.7, seed=0).key("completions", "m"),
                 req.key("chat", "m"), req.key("completions", "other-model")}
    assert req.key("completions", "m") not in different and len(different) == 4
    body = req.body("completions", "m")
    assert body == {"model": "m", "max_tokens": 256, "temperature": 0.7, "prompt": prompt.as_text(),
                    "stop": ["\n### Snippet"], "seed": 0}
    assert client.url == "http://x/v1"


def test_a_torn_last_line_is_ignored_and_repaired(tmp_path):
    from codefill.jobs.instruct_data.generate import Answer

    path = tmp_path / "responses.jsonl"
    store = ResponseStore(path)
    store.put("a", Answer("one", "stop"), kind="k", item="i")
    store.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"key": "b", "text": "cut sh')  # the run was killed mid-write
    store = ResponseStore(path)
    assert "a" in store and "b" not in store and len(store) == 1
    store.put("c", Answer("three", None))
    store.close()
    again = ResponseStore(path)
    assert "a" in again and "c" in again and again.get("c").text == "three"


def _requests(n: int) -> list[GenRequest]:
    seeds = [f'def ok_f{i}(x):\n    """Doc {i}."""\n    return x + {i}\n' for i in range(n)]
    return [GenRequest("instruction", f"s{i}", instruction_prompt(code, key=f"0:s{i}"), 64, 0.7, seed=0)
            for i, code in enumerate(seeds)]


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_run_stopped_midway_continues_where_it_stopped(tmp_path, api):
    requests = _requests(12)
    store_path = tmp_path / "responses.jsonl"
    first: list[dict] = []
    with FakeServer(instruct_app(first, fail_after=5)) as server:
        with pytest.raises(GenerationError, match="5 of 12 new requests answered"):
            generate_all(ModelClient(server.url, MODEL, api=api, retries=0), requests, ResponseStore(store_path),
                         concurrency=1)
    assert len(first) == 6  # five answered, the sixth refused
    lines = [json.loads(line) for line in store_path.read_text().splitlines()]
    assert len(lines) == 5 and {row["kind"] for row in lines} == {"instruction"}

    second: list[dict] = []
    with FakeServer(instruct_app(second)) as server:
        answers = generate_all(ModelClient(server.url, MODEL, api=api), requests, ResponseStore(store_path),
                               concurrency=4)
    assert len(second) == 12 - 5  # only the missing ones
    assert [parse_instruction(a.text).instruction for a in answers] == [
        f"Write a Python function `ok_f{i}` that returns 42." for i in range(12)]

    third: list[dict] = []
    with FakeServer(instruct_app(third)) as server:
        generate_all(ModelClient(server.url, MODEL, api=api), requests, ResponseStore(store_path), concurrency=4)
    assert third == []


def test_the_pipeline_reruns_with_a_larger_limit_ask_only_for_the_new_seeds(tmp_path, sandbox):
    from codefill.jobs.instruct_data.pipeline import InstructConfig, run_instruct

    repo = make_seed_repo(tmp_path / "repo")
    out = tmp_path / "data" / "x.jsonl"
    logs: list[list[dict]] = []
    reports = []
    for limit in (3, 6, 6):
        log: list[dict] = []
        with FakeServer(instruct_app(log)) as server:
            config = InstructConfig(repo=str(repo), url=server.url, out=str(out), limit=limit, responses=2,
                                    concurrency=3, progress=False)
            reports.append(run_instruct(config, decontaminator=None, sandbox=sandbox))
        logs.append(log)
    tests = [r.responses.get("tests_asked", 0) for r in reports]
    assert [requests_of(log) for log in logs] == [
        {"instruction": 3, "response": 6 - 2 * _garbled(reports[0]), "evolution": 0, "tests": tests[0]},
        {"instruction": 3, "response": 2 * (reports[1].instructions["parsed"] - reports[0].instructions["parsed"]),
         "evolution": 0, "tests": tests[1] - tests[0]},
        {"instruction": 0, "response": 0, "evolution": 0, "tests": 0},
    ]
    assert reports[2].requests == {"sent": 0, "cached": 6 + 2 * reports[1].instructions["parsed"] + tests[1]}
    assert reports[2].validation["executions_cached"] == reports[2].validation["run"]
    assert reports[1].dataset == reports[2].dataset


def _garbled(report) -> int:
    return report.instructions["unparsed"]
