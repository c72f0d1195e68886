"""FIM training examples: cut like completions, built with the server's own prompt path."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from codefill.model.engines.base import Delta, Engine, EngineInfo, SamplingOptions
from codefill.model.context_window import fit_fim
from codefill.model.templates.fim import encode_prompt, encode_text, get_fim_template
from codefill.jobs.training.blocks import block_bodies
from codefill.jobs.training.fim_cuts import BLOCK, INLINE, LINE_END, LINES, PLAIN, FileLines, block_cuts
from codefill.jobs.training.fim_examples import (
    IGNORE_INDEX,
    Example,
    ExampleBuilder,
    ExampleOptions,
    read_examples,
    write_examples,
)
from codefill.jobs.training.repo_files import SourceFile
from codefill.server.app import build_app
from codefill.server.state import ServerConfig, ServingState
from tests.unit.training_repo import APP_PY, MAIN_JS, SERVER_GO

QWEN = get_fim_template("qwen")
ENDOFTEXT = "<|endoftext|>"


def long_module(n_functions: int = 60) -> str:
    return "".join(
        f"def handler_{i}(request, limit={i}):\n"
        f"    items = request.items[:limit]\n"
        f"    if not items:\n"
        f"        return None\n"
        f"    return [item.name for item in items]\n\n\n"
        for i in range(n_functions)
    )


def builder(tok, **options: Any) -> ExampleBuilder:
    return ExampleBuilder(tok, "qwen", ExampleOptions(**{"seq_len": 512, "seed": 3, **options}))


def assert_fim_labels(tok, e: Example) -> None:
    """Labels: -100 over the prompt, then exactly the middle's tokens and the end token."""
    n = e.prompt_length
    assert n > 0 and all(x == IGNORE_INDEX for x in e.labels[:n])
    assert e.labels[n:] == e.input_ids[n:]
    assert e.labels[n:-1] == encode_text(tok, e.middle)
    assert e.labels[-1] == tok.convert_tokens_to_ids(ENDOFTEXT)
    assert e.input_ids[n - 1] == tok.convert_tokens_to_ids("<|fim_middle|>")
    assert tok.decode(e.labels[n:-1]) == e.middle


def test_fim_labels_cover_exactly_the_middle_and_the_end_token(qwen_tokenizer):
    examples, stats = builder(qwen_tokenizer, fim_rate=1.0).train_examples(SourceFile("shop/app.py", APP_PY, "python"))
    assert examples and not stats.failed
    for e in examples:
        assert_fim_labels(qwen_tokenizer, e)
        assert e.middle.strip() and e.middle == e.middle.rstrip()  # trailing spaces and newline stay in the suffix
        assert ("\n" in e.middle) == (e.kind in (BLOCK, LINES))


def test_inline_and_line_end_cuts(qwen_tokenizer):
    b = builder(qwen_tokenizer)
    f = SourceFile("shop/app.py", APP_PY, "python")
    lines = FileLines(APP_PY, "python")
    rng = random.Random(0)
    for _ in range(50):
        inline = b.example_of_kind(f, INLINE, rng, keep_text=True, lines=lines)
        line_end = b.example_of_kind(f, LINE_END, rng, keep_text=True, lines=lines)
        # inline: typed part of the line before the cursor, the middle inside one line.
        assert inline.kind == INLINE and "\n" not in inline.middle
        assert inline.prefix.rsplit("\n", 1)[-1].strip() != ""
        # line_end: the cursor after the indentation, the middle the whole rest of the line.
        assert line_end.kind == LINE_END and "\n" not in line_end.middle
        assert line_end.prefix.rsplit("\n", 1)[-1].strip() == ""
        assert line_end.suffix.split("\n", 1)[0].strip() == ""


def test_multi_line_cut_is_a_function_body_found_by_tree_sitter(qwen_tokenizer):
    text = "import os\n\n\ndef list_python_files(root):\n    found = []\n    for name in os.listdir(root):\n        found.append(name)\n    return found\n\n\nprint(list_python_files('.'))\n"
    body = "found = []\n    for name in os.listdir(root):\n        found.append(name)\n    return found"
    # Two bodies: the function's (4 lines) and the for loop's, whose single line is no multi-line hole.
    assert [(r.first, r.last) for r in block_bodies(text, "python")] == [(4, 7)]
    e = builder(qwen_tokenizer, kind_weights=((BLOCK, 1.0),)).example_of_kind(
        SourceFile("ls.py", text, "python"), BLOCK, random.Random(0), keep_text=True)
    assert e.kind == BLOCK and e.middle == body
    assert e.prefix.endswith("def list_python_files(root):\n    ")
    assert e.suffix.startswith("\n\n\nprint(")
    assert_fim_labels(qwen_tokenizer, e)


def test_brace_language_bodies_are_the_lines_between_the_braces():
    def middles(text: str, language: str) -> list[str]:
        return [text[c.start:c.end] for c in block_cuts(FileLines(text, language))]

    # Function and loop bodies; the one-line `if` body is no multi-line hole.
    assert middles(MAIN_JS, "javascript") == [
        "const users = await fetchJson(`${baseUrl}/users`);\n  return users.filter((user) => user.active);",
        "const teams = new Map();\n  for (const user of users) {\n    if (!teams.has(user.team)) {\n"
        "      teams.set(user.team, []);\n    }\n    teams.get(user.team).push(user.name);\n  }\n  return teams;",
        "if (!teams.has(user.team)) {\n      teams.set(user.team, []);\n    }\n    teams.get(user.team).push(user.name);",
    ]
    assert middles(SERVER_GO, "go") == [
        'if r.Method != http.MethodGet {\n\t\thttp.Error(w, "method not allowed", http.StatusMethodNotAllowed)\n'
        '\t\treturn\n\t}\n\tfmt.Fprintln(w, "ok")',
        'http.Error(w, "method not allowed", http.StatusMethodNotAllowed)\n\t\treturn',
        'http.HandleFunc("/health", health)\n\thttp.ListenAndServe(":8080", nil)',
    ]


def test_a_language_without_a_grammar_gets_line_ranges(qwen_tokenizer):
    text = "".join(f"step {i}: mix the batter for {i} minutes\n" for i in range(40))
    f = SourceFile("recipe.txtl", text, "no-such-grammar")
    assert block_bodies(text, "no-such-grammar") is None
    e = builder(qwen_tokenizer).example_of_kind(f, BLOCK, random.Random(1), keep_text=True)
    assert e.kind == LINES and e.middle.count("\n") >= 1
    assert_fim_labels(qwen_tokenizer, e)


def test_fim_rate_and_kinds_over_many_examples(qwen_tokenizer):
    b = builder(qwen_tokenizer, fim_rate=0.9, chars_per_example=10, max_examples_per_file=1000, seq_len=256)
    text = long_module(40)
    examples, stats = b.train_examples(SourceFile("handlers.py", text, "python"))
    kinds = Counter(e.kind for e in examples)
    assert len(examples) > 500 and not stats.failed
    assert abs(kinds[PLAIN] / len(examples) - 0.1) < 0.04
    for kind in (INLINE, LINE_END, BLOCK):  # equal weights by default
        assert abs(kinds[kind] / (len(examples) - kinds[PLAIN]) - 1 / 3) < 0.07
    plain = next(e for e in examples if e.kind == PLAIN)
    assert plain.labels == plain.input_ids and plain.middle is None  # loss on every token, no FIM tokens
    assert not set(plain.input_ids) & {qwen_tokenizer.convert_tokens_to_ids(t) for t in QWEN.required_tokens}


def test_the_same_seed_gives_the_same_examples(qwen_tokenizer):
    f = SourceFile("handlers.py", long_module(20), "python")
    first = [e.to_json() for e in builder(qwen_tokenizer, seed=5).train_examples(f)[0]]
    again = [e.to_json() for e in builder(qwen_tokenizer, seed=5).train_examples(f)[0]]
    other = [e.to_json() for e in builder(qwen_tokenizer, seed=6).train_examples(f)[0]]
    assert first == again and first != other


def test_a_long_file_is_windowed_like_the_server_does(qwen_tokenizer):
    text = long_module(200)
    start = text.index("def handler_100(")
    start = text.index("items = ", start)
    end = text.index("\n", start)
    e = builder(qwen_tokenizer, seq_len=256).fim_example(text, start, end, kind=LINE_END, path="h.py", keep_text=True)
    # Filled to the window but for less than a line on each side (lines here are ~10 tokens).
    assert 230 <= len(e.input_ids) <= 256
    assert text[:start].endswith(e.prefix) and text[end:].startswith(e.suffix)
    assert len(e.prefix) < start and len(e.suffix) < len(text) - end
    target = len(e.input_ids) - e.prompt_length
    fit = fit_fim(qwen_tokenizer, QWEN, text[:start], text[end:], max_tokens=target, max_model_len=256)
    assert e.input_ids[:e.prompt_length] == fit.token_ids
    assert fit.token_ids == encode_prompt(qwen_tokenizer, QWEN.build(e.prefix, e.suffix))


class RecordingEngine(Engine):
    """An engine that remembers the prompt ids the server sends it and answers nothing."""

    name = "recording"

    def __init__(self, tokenizer: Any, max_model_len: int) -> None:
        self._tok = tokenizer
        self._info = EngineInfo(model_path="recording", max_model_len=max_model_len, engine="recording")
        self.prompts: list[list[int]] = []

    @property
    def tokenizer(self) -> Any:
        return self._tok

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def generate(self, prompt_token_ids: Sequence[int], options: SamplingOptions,
                       request_id: str) -> AsyncIterator[Delta]:
        self.prompts.append(list(prompt_token_ids))
        yield Delta(text="", prompt_tokens=len(prompt_token_ids), completion_tokens=0, finish_reason="stop")

    async def abort(self, request_id: str) -> None:
        pass

    def num_in_flight(self) -> int:
        return 0

    def is_healthy(self) -> bool:
        return True


@pytest.mark.parametrize("repo_context", [False, True])
async def test_input_ids_are_what_the_server_sends_the_engine(qwen_tokenizer, repo_context):
    seq_len = 384
    engine = RecordingEngine(qwen_tokenizer, max_model_len=seq_len)
    state = ServingState(ServerConfig(served_model_name="m", model_path="m"), engine)
    state._prepare_templates()
    state.ready = True
    app = build_app(state, start_engine=False)
    b = builder(qwen_tokenizer, seq_len=seq_len, repo_name="shop", repo_context_rate=1.0 if repo_context else 0.0)
    text = long_module(80)
    f = SourceFile("svc/handlers.py", text, "python")
    lines = FileLines(text, "python")
    rng = random.Random(11)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codefill") as client:
        for kind in (INLINE, LINE_END, BLOCK) * 3:
            e = b.example_of_kind(f, kind, rng, keep_text=True, lines=lines)
            assert e.repo_context is repo_context
            # The whole file around the hole, as an editor sends it: the server must window it the same way.
            start = text.index(e.prefix + e.middle + e.suffix) + len(e.prefix)
            body: dict[str, Any] = {
                "model": "m", "prompt": text[:start], "suffix": text[start + len(e.middle):],
                "max_tokens": len(e.input_ids) - e.prompt_length,
            }
            if repo_context:
                body["codefill"] = {"repo_name": "shop", "path": "svc/handlers.py"}
            r = await client.post("/v1/completions", json=body)
            assert r.status_code == 200, r.text
            assert engine.prompts[-1] == e.input_ids[:e.prompt_length]
            assert_fim_labels(qwen_tokenizer, e)


def test_examples_round_trip_through_jsonl(qwen_tokenizer, tmp_path):
    examples, _ = builder(qwen_tokenizer).eval_examples(SourceFile("shop/app.py", APP_PY, "python"))
    assert {e.kind for e in examples} <= {INLINE, LINE_END, BLOCK}
    path = tmp_path / "eval.jsonl"
    assert write_examples(path, examples) == len(examples)
    assert read_examples(path) == examples


def test_code_that_spells_a_control_token_stays_text(qwen_tokenizer):
    text = 'MARK = "<|fim_middle|>"\n\n\ndef f():\n    return MARK\n'
    e = builder(qwen_tokenizer).fim_example(text, text.index("return"), len(text) - 1, kind=LINE_END, path="m.py")
    middle_id = qwen_tokenizer.convert_tokens_to_ids("<|fim_middle|>")
    assert e.input_ids.count(middle_id) == 1  # only the template's own
