"""Pieces of the HTTP client that need no server: URLs and the raw-template cut.
(Requests themselves are tested end to end against a fake server.)"""

from __future__ import annotations

import pytest

from codefill.lsp.http_client import RawCut, api_root


@pytest.mark.parametrize("url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"])
def test_api_root(url):
    assert api_root(url) == "http://h:8000/v1"


def test_raw_cut_single_line_stops_at_the_newline():
    cut = RawCut("qwen", multiline=False)
    assert cut.cut("a + b") == ("a + b", False)
    assert cut.cut("a + b\nprint()") == ("a + b", True)


def test_raw_cut_multi_line_stops_at_the_family_end_tokens():
    cut = RawCut("qwen", multiline=True)
    assert cut.cut("x = 1\ny = 2") == ("x = 1\ny = 2", False)
    assert cut.cut("x = 1\ny = 2<|file_sep|>other.py") == ("x = 1\ny = 2", True)
    assert cut.cut("x<|endoftext|>") == ("x", True)
    starcoder = RawCut("starcoder", multiline=True)
    assert starcoder.cut("x = 1<file_sep>") == ("x = 1", True)


# --- a server from before `codefill.language` ---------------------------------

async def test_a_server_that_refuses_newer_codefill_fields_gets_the_request_again_without_them():
    """An older `codefill serve` (its protocol forbids unknown fields) answers 400 naming
    them; the completion still comes, and later requests leave them out."""
    import json

    import httpx

    from codefill.lsp.context.completion_context import CompletionContext
    from codefill.lsp.http_client import FimClient
    from codefill.lsp.settings import Settings

    bodies: list[dict] = []

    def older_server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        newer = sorted(f"codefill.{name}" for name in ("language", "max_time_ms") if name in body["codefill"])
        if newer:
            return httpx.Response(400, json={"error": {
                "message": "unsupported field(s): " + ", ".join(newer), "type": "invalid_request_error",
                "param": newer[0], "code": "invalid_request"}})
        chunk = {"choices": [{"index": 0, "text": "return a + b", "finish_reason": "stop"}]}
        return httpx.Response(200, text=f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n",
                              headers={"content-type": "text/event-stream"})

    ctx = CompletionContext(prefix="def add(a, b):\n    ", suffix="\n", path="m.py", repo_name="r", files=(),
                            language="python", line_prefix="    ", line_suffix="", multiline=None, key="k",
                            build_ms=0.0)
    client = FimClient()
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(older_server))
    settings = Settings(url="http://older:8000", model="m")
    assert await client.complete(ctx, multiline=None, settings=settings) == "return a + b"
    assert await client.complete(ctx, multiline=None, settings=settings) == "return a + b"
    assert [sorted(set(b["codefill"]) & {"language", "max_time_ms"}) for b in bodies] == [
        ["language", "max_time_ms"], ["max_time_ms"], [], []]
    assert bodies[0]["codefill"]["max_time_ms"] == settings.timeout_ms * 9 // 10
    await client.aclose()


# --- next edits ----------------------------------------------------------------

async def test_next_edit_posts_the_window_cursor_and_events_and_maps_failures():
    import json

    import httpx

    from codefill.client.next_edit import NextEditBody
    from codefill.lsp.http_client import CompletionFailed, FimClient
    from codefill.lsp.settings import Settings

    seen: list[tuple[str, dict]] = []
    answer = {"id": "nextedit-1", "object": "next_edit", "window": {"text": "b\n", "start_line": 3},
              "edits": [{"range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 1}},
                         "text": "b"}], "finish_reason": "stop"}

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "served"}]})
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        if body["cursor"]["line"] == 99:
            return httpx.Response(400, json={"error": {"message": "the cursor's line 99 is outside the window",
                                                       "type": "invalid_request_error", "param": "cursor.line",
                                                       "code": "cursor_outside_window"}})
        return httpx.Response(200, json=answer)

    client = FimClient()
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    settings = Settings(url="http://codefill:8000", api_key="k")
    body = NextEditBody(model="", window="a\n", start_line=3, cursor_line=3, cursor_character=1, path="x.py",
                        events=[("x.py", "@@ -4 +4 @@\n-z\n+a\n")])
    assert await client.next_edit(body, settings) == answer
    path, sent = seen[0]
    assert path == "/v1/next_edit" and sent["model"] == "served"
    assert sent["window"] == {"text": "a\n", "start_line": 3} and sent["cursor"] == {"line": 3, "character": 1}
    assert sent["events"] == [{"path": "x.py", "diff": "@@ -4 +4 @@\n-z\n+a\n"}] and sent["path"] == "x.py"
    with pytest.raises(CompletionFailed) as info:
        await client.next_edit(NextEditBody(model="m", window="a\n", start_line=3, cursor_line=99,
                                            cursor_character=0), settings)
    assert info.value.kind == "error" and info.value.status == 400 and "outside the window" in str(info.value)
    await client.aclose()
