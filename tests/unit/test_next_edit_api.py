"""/v1/next_edit on the in-process app, with an engine that answers what the test scripts."""

from __future__ import annotations

import json

import pytest

from codefill.model.engines import Delta
from codefill.model.next_edit_edits import Position, TextEdit, apply_edits
from codefill.model.templates.next_edit import REGION_END
from codefill.server.app import build_app
from codefill.server.limits import Limits
from codefill.server.state import ServerConfig, ServingState
from tests.fake_engine import ControlledEngine
from tests.unit.test_limits_and_keys import client, error_of

WINDOW = "def area(w, height):\n    return width * height\n"
BODY = {"model": "m", "path": "geometry.py", "window": {"text": WINDOW, "start_line": 10},
        "cursor": {"line": 10, "character": 10},
        "events": [{"path": "geometry.py",
                    "diff": "@@ -11 +11 @@\n-def area(width, height):\n+def area(w, height):\n"}]}


class ScriptedEngine(ControlledEngine):
    """Writes `answer` a few characters at a time, then whatever follows it (as a model goes on)."""

    def __init__(self, tokenizer, answer: str = "") -> None:
        super().__init__(tokenizer)
        self.answer = answer
        self.prompts: list[list[int]] = []
        self.options = []

    async def generate(self, prompt_token_ids, options, request_id):
        self.prompts.append(list(prompt_token_ids))
        self.options.append(options)
        self.in_flight.add(request_id)
        try:
            text = self.answer + "\nmore text the model goes on with"
            pieces = [text[i:i + 5] for i in range(0, len(text), 5)][:options.max_tokens]
            for i, piece in enumerate(pieces, 1):
                done = i == len(pieces)
                yield Delta(piece, len(prompt_token_ids), i, ("length" if i == options.max_tokens else "stop")
                            if done else None)
        finally:
            self.in_flight.discard(request_id)


async def _app(tokenizer, answer: str = "", limits: Limits | None = None):
    engine = ScriptedEngine(tokenizer, answer)
    await engine.start()
    state = ServingState(ServerConfig(served_model_name="m", model_path="m", limits=limits or Limits()), engine)
    state._prepare_templates()
    state.ready = True
    return build_app(state, start_engine=False), state, engine


async def test_a_rename_comes_back_as_one_small_edit(qwen_tokenizer):
    rewrite = "def area(w, height):\n    return w * height\n"
    app, state, engine = await _app(qwen_tokenizer, rewrite + REGION_END)
    async with client(app) as c:
        r = await c.post("/v1/next_edit", json=BODY)
        assert r.status_code == 200, r.text
        body = r.json()
        metrics = (await c.get("/metrics")).text
    assert body["object"] == "next_edit" and body["id"].startswith("nextedit-") and body["model"] == "m"
    assert body["window"] == {"text": rewrite, "start_line": 10}
    assert body["edits"] == [{"range": {"start": {"line": 11, "character": 11}, "end": {"line": 11, "character": 16}},
                              "text": "w"}]
    assert body["finish_reason"] == "stop" and body["usage"]["prompt_tokens"] == len(engine.prompts[0])
    # The window is in the prompt verbatim (n-gram speculation drafts the answer from it), the cursor marked.
    prompt = qwen_tokenizer.decode(engine.prompts[0])
    assert "def area(w<|user_cursor_is_here|>, height):\n    return width * height\n" in prompt
    assert "-def area(width, height):" in prompt
    options = engine.options[0]
    assert options.priority == 0 and options.stop == ()  # the filter ends it: engines drop stop strings
    assert 'codefill_requests_total{endpoint="next_edit",status="200"} 1.0' in metrics
    assert state.engine.num_in_flight() == 0


@pytest.mark.parametrize("answer", [WINDOW + REGION_END, "\n" + REGION_END, WINDOW[:20]],
                         ids=["unchanged", "everything deleted", "never closed"])
async def test_no_change_deletion_or_a_cut_off_answer_proposes_nothing(qwen_tokenizer, answer):
    app, _, _ = await _app(qwen_tokenizer, answer)
    async with client(app) as c:
        body = (await c.post("/v1/next_edit", json={**BODY, "max_tokens": 4 if REGION_END not in answer else None}))
    body = body.json()
    assert body["edits"] == [] and body["window"]["text"] == WINDOW
    assert body["finish_reason"] == ("length" if REGION_END not in answer else "stop")


async def test_edits_apply_to_the_window_to_give_the_rewrite(qwen_tokenizer):
    rewrite = "import sys\ndef area(w, height):\n    return w * height  # \U0001F600\n"
    app, _, _ = await _app(qwen_tokenizer, rewrite.rstrip("\n") + "\n" + REGION_END)
    async with client(app) as c:
        body = (await c.post("/v1/next_edit", json=BODY)).json()
    edits = [TextEdit(Position(**e["range"]["start"]), Position(**e["range"]["end"]), e["text"]) for e in body["edits"]]
    assert apply_edits(WINDOW, edits, 10) == body["window"]["text"] == rewrite


@pytest.mark.parametrize("change, param", [
    ({"cursor": {"line": 9, "character": 0}}, "cursor.line"),
    ({"cursor": {"line": 13, "character": 0}}, "cursor.line"),
    ({"cursor": {"line": 11, "character": 99}}, "cursor.character"),
    ({"stream": True}, "stream"),
    ({"prompt": "x"}, "prompt"),
    ({"window": {"text": "x", "start_line": 0, "end_line": 3}}, "window.end_line"),
    ({"events": [{"path": "a.py", "diff": "x"}] * 33}, "events"),
    ({"events": [{"path": "a.py", "diff": "a\ud800"}]}, "events.0.diff"),
    ({"files": [{"path": "b.py", "content": "\udc00"}]}, "files.0.content"),
    ({"window": {"text": "x\n" * 401, "start_line": 10}}, "window.text"),
    ({"format": "sweep"}, "format"),
    ({"model": "other"}, "model"),
    ({"max_tokens": 10_000}, "max_tokens"),
])
async def test_bad_requests_are_400s_that_name_the_field(qwen_tokenizer, change, param):
    app, _, engine = await _app(qwen_tokenizer, WINDOW + REGION_END)
    async with client(app) as c:
        content = json.dumps({**BODY, **change}).encode()
        r = await c.post("/v1/next_edit", content=content, headers={"content-type": "application/json"})
        err = error_of(r, 404 if param == "model" else 400)
        assert err["param"] == param, err
        assert (await c.post("/v1/next_edit", json=BODY)).status_code == 200
    assert len(engine.prompts) == 1  # refused before any engine work


async def test_a_window_longer_than_the_token_limit_is_refused(qwen_tokenizer):
    app, _, _ = await _app(qwen_tokenizer, REGION_END, limits=Limits(max_tokens=20))
    async with client(app) as c:
        long = {**BODY, "window": {"text": "x = 1\n" * 30, "start_line": 10}, "cursor": {"line": 12, "character": 0}}
        err = error_of(await c.post("/v1/next_edit", json=long), 400)
    assert err["code"] == "window_too_long" and "--max-tokens-limit" in err["message"]


async def test_context_that_does_not_fit_is_dropped_before_the_window(qwen_tokenizer):
    app, _, engine = await _app(qwen_tokenizer, WINDOW + REGION_END, limits=Limits(max_prompt_tokens=400))
    big = [{"path": f"f{i}.py", "content": "y = 2\n" * 100} for i in range(3)]
    async with client(app) as c:
        r = await c.post("/v1/next_edit", json={**BODY, "files": big})
    assert r.status_code == 200, r.text
    assert len(engine.prompts[0]) <= 400
    assert "def area(w<|user_cursor_is_here|>" in qwen_tokenizer.decode(engine.prompts[0])


async def test_the_schema_has_the_endpoint(qwen_tokenizer):
    app, _, _ = await _app(qwen_tokenizer)
    async with client(app) as c:
        schema = (await c.get("/openapi.json")).json()
    op = schema["paths"]["/v1/next_edit"]["post"]
    assert {"200", "400", "404", "413", "429", "503"} <= set(op["responses"])
    request = schema["components"]["schemas"]["NextEditRequest"]["properties"]
    assert request["stream"]["enum"] == [False, None] and request["events"]["maxItems"] == 32


async def test_a_blank_line_the_model_adds_is_put_back_unless_postprocess_is_off(qwen_tokenizer):
    rewrite = "\ndef area(w, height):\n    return w * height\n"  # the rename, and a blank line nobody asked for
    app, _, _ = await _app(qwen_tokenizer, rewrite + REGION_END)
    async with client(app) as c:
        ruled = (await c.post("/v1/next_edit", json=BODY)).json()
        raw = (await c.post("/v1/next_edit", json={**BODY, "postprocess": False})).json()
    assert ruled["window"]["text"] == "def area(w, height):\n    return w * height\n"
    assert [e["text"] for e in ruled["edits"]] == ["w"]
    assert raw["window"]["text"] == rewrite and [e["text"] for e in raw["edits"]] == ["\n", "w"]
