"""/v1/next_edit on the real server: shapes and refusals on the tiny (random) model, with both
engines; on the embedded model, a renamed parameter renamed at its next uses."""

from __future__ import annotations

import httpx
import pytest

from codefill.model.next_edit_edits import Position, TextEdit, apply_edits

WINDOW = "class Cart:\n    def add(self, item, quantity):\n        self.items.append(item)\n" \
         "        self.total += item.price * count\n        return count\n"
RENAME = {
    "path": "shop.py", "language": "python",
    "window": {"text": WINDOW, "start_line": 2},
    "cursor": {"line": 3, "character": len("    def add(self, item, quantity")},
    "events": [{"path": "shop.py", "diff": "@@ -3,3 +3,3 @@\n class Cart:\n-    def add(self, item, count):\n"
                "+    def add(self, item, quantity):\n         self.items.append(item)\n"}],
}


def _post(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/next_edit", json=body, timeout=300)


def _edits(answer: dict) -> list[TextEdit]:
    return [TextEdit(Position(**e["range"]["start"]), Position(**e["range"]["end"]), e["text"])
            for e in answer["edits"]]


def test_the_answer_is_a_window_and_the_edits_that_make_it(tiny_server):
    r = _post(tiny_server, {**RENAME, "model": "tiny", "max_tokens": 16})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["object"] == "next_edit" and answer["model"] == "tiny" and answer["id"].startswith("nextedit-")
    assert answer["window"]["start_line"] == 2 and answer["finish_reason"] in ("stop", "length")
    assert apply_edits(WINDOW, _edits(answer), 2) == answer["window"]["text"]
    if not answer["edits"]:
        assert answer["window"]["text"] == WINDOW
    assert 0 < answer["usage"]["completion_tokens"] <= 16
    metrics = httpx.get(f"{tiny_server.url}/metrics", timeout=10).text
    assert 'codefill_requests_total{endpoint="next_edit",status="200"}' in metrics
    assert 'codefill_request_latency_seconds_count{endpoint="next_edit"}' in metrics


@pytest.mark.parametrize("change, param", [
    ({"cursor": {"line": 0, "character": 0}}, "cursor.line"),
    ({"stream": True}, "stream"),
    ({"window": {"text": WINDOW, "start": 2}}, "window.start"),
    ({"events": [{"path": "a.py", "diff": 3}]}, "events.0.diff"),
])
def test_bad_requests_are_openai_shaped_400s_naming_the_field(tiny_server, change, param):
    r = _post(tiny_server, {**RENAME, "model": "tiny", **change})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert err["param"] == param, err


AREA = "def area(w, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    if width < 0 or height < 0:\n" \
       "        raise ValueError(\"negative\")\n    return width * height\n"
RENAME_AREA = {
    "path": "geometry.py", "window": {"text": AREA, "start_line": 0}, "cursor": {"line": 0, "character": 10},
    "events": [{"path": "geometry.py", "diff": "@@ -1,2 +1,2 @@\n-def area(width, height):\n+def area(w, height):\n"
                "     \"\"\"Area of a rectangle.\"\"\"\n"}],
}


@pytest.mark.slow
@pytest.mark.parametrize("request_body, old, new, window", [(RENAME, "count", "quantity", WINDOW),
                                                            (RENAME_AREA, "width", "w", AREA)],
                         ids=["count to quantity", "width to w"])
def test_the_embedded_model_renames_the_next_uses_of_a_renamed_parameter(embedded_server, request_body, old, new,
                                                                        window):
    r = _post(embedded_server, {**request_body, "model": "qwen2.5-coder-0.5b-instruct"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["window"]["text"] == window.replace(old, new), answer
    assert [e["text"] for e in answer["edits"]] == [new, new], answer


async def test_the_language_server_asks_for_the_next_edit_with_its_edit_history(tiny_hf_server, tmp_path):
    from tests.e2e.lsp_session import open_document, start_lsp, stop_lsp, type_text

    path = tmp_path / "ws" / "shop.py"
    path.parent.mkdir()
    before = WINDOW.replace("quantity", "count")
    path.write_text(before)
    # A loaded CI machine can take longer than the default 10 s to answer; the test is of what is sent.
    client = await start_lsp(tiny_hf_server.url, "--data-dir", str(tmp_path / "data"), "--max-tokens", "16",
                             "--timeout-ms", "120000", workspace=path.parent)
    try:
        uri = open_document(client, path, before)
        type_text(client, uri, 2, 1, len("    def add(self, item, "), "new_")
        result = await client.protocol.send_request_async(
            "codefill/nextEdit", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 20}})
        missing = await client.protocol.send_request_async(
            "codefill/nextEdit", {"textDocument": {"uri": uri + "x"}, "position": {"line": 0, "character": 0}})
    finally:
        await stop_lsp(client)
    # pygls hands back an untyped answer as a named tuple (or a dict, by version).
    result = result if isinstance(result, dict) else result._asdict()
    assert result["version"] == 2 and isinstance(result["edits"], (list, tuple)), result
    assert missing is None
