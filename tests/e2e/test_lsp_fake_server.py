"""`codefill lsp` end to end against a deterministic fake FIM server: exact answers,
cancellation reaching the server, the cache, cross-file context, the trigger policy,
settings, telemetry and failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.lsp_session import (
    apply_item,
    complete,
    inline,
    inline_params,
    open_document,
    start_lsp,
    stop_lsp,
    type_text,
    wait_until,
)
from tests.e2e.lsp_session import source_file as session_source_file
from tests.lsp_fakes import MODEL, FimFake

ANSWER = "return a + b"
SOURCE = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
BODY_LINE, BODY_COL = 1, 4  # the empty indented body of add()
SLOW_TEXT = "x = 1  # " + "slow " * 200  # 250 chunks


@pytest.fixture
def fim(fake_server: FimFake) -> FimFake:
    fake_server.reset(text=ANSWER)
    return fake_server


@contextlib.asynccontextmanager
async def lsp(fim: FimFake, tmp_path: Path, *args: str, **kw):
    client = await start_lsp(fim.url, "--data-dir", str(tmp_path / "data"), "--debounce-ms", "0", *args, **kw)
    try:
        yield client
    finally:
        await stop_lsp(client)


def source_file(tmp_path: Path, text: str = SOURCE, name: str = "calc.py") -> Path:
    return session_source_file(tmp_path, text, name)


async def test_inline_completion_returns_the_model_text(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path, workspace=path.parent) as client:
        uri = open_document(client, path)
        items = await inline(client, uri, BODY_LINE, BODY_COL)
    assert len(items) == 1
    item = items[0]
    # The item replaces the line up to the cursor with itself plus the completion.
    assert item.insert_text == "    " + ANSWER
    assert item.range == types.Range(start=types.Position(line=1, character=0),
                                     end=types.Position(line=1, character=4))
    assert item.command is not None and item.command.command == "codefill.accepted"
    [request] = fim.requests
    body = request.body
    assert body["model"] == MODEL and body["stream"] is True and body["temperature"] == 0.0
    assert body["prompt"].endswith("def add(a, b):\n    ")
    assert body["suffix"].startswith("\n\nprint(add(1, 2))")
    assert body["codefill"]["path"].endswith("calc.py")
    assert body["codefill"]["multiline"] is True  # an empty block body
    assert request.outcome == "completed"


async def test_completion_item_carries_the_model_text(fim, tmp_path):
    path = source_file(tmp_path, "def add(a, b):\n    ret\n")
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        fim.text = "urn a + b"
        items = await complete(client, uri, 1, 7)
    [item] = items
    # The edit replaces the line up to the cursor with itself and the completion (a client
    # without snippet support gets plain text; see test_lsp_completion_item.py).
    assert item.text_edit.new_text == "    return a + b"
    assert item.text_edit.range == types.Range(start=types.Position(line=1, character=0),
                                               end=types.Position(line=1, character=7))
    assert item.filter_text == "    return a + b" and item.label == "    return a + b"
    assert item.command.command == "codefill.accepted"


async def test_newer_keystroke_cancels_the_request_in_flight(fim, tmp_path):
    path = source_file(tmp_path)
    fim.text, fim.chunk_delay_s = SLOW_TEXT, 0.05
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        first = asyncio.ensure_future(inline(client, uri, BODY_LINE, BODY_COL, invoked=False))
        await wait_until(lambda: fim.requests and fim.requests[0].sent, what="the first request streaming")
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "r")
        fim.chunk_delay_s = 0.0
        second = await inline(client, uri, BODY_LINE, BODY_COL + 1, invoked=False)
        assert await first == []  # superseded: an empty answer
        assert await asyncio.to_thread(fim.requests[0].ended.wait, 10)
    assert fim.requests[0].outcome == "aborted"
    assert len(fim.requests[0].sent) < len(SLOW_TEXT)
    assert fim.requests[1].outcome == "completed"
    assert second[0].insert_text == "    r" + SLOW_TEXT


async def test_cancel_request_aborts_the_server_request(fim, tmp_path):
    path = source_file(tmp_path)
    fim.text, fim.chunk_delay_s = SLOW_TEXT, 0.05
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        msg_id = "inline-to-cancel"
        future = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION,
                                              inline_params(uri, BODY_LINE, BODY_COL), msg_id=msg_id)
        await wait_until(lambda: fim.requests and fim.requests[0].sent, what="the request streaming")
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        assert await asyncio.to_thread(fim.requests[0].ended.wait, 10)
        with pytest.raises(Exception, match="(?i)cancel"):
            await asyncio.wait_for(asyncio.wrap_future(future), 10)
        # The server is fine afterwards.
        fim.text, fim.chunk_delay_s = ANSWER, 0.0
        items = await inline(client, uri, BODY_LINE, BODY_COL)
    assert fim.requests[0].outcome == "aborted"
    assert items[0].insert_text == "    " + ANSWER


async def test_debounce_sends_only_the_last_of_quick_keystrokes(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path, "--debounce-ms", "500") as client:
        uri = open_document(client, path)
        first = asyncio.ensure_future(inline(client, uri, BODY_LINE, BODY_COL, invoked=False))
        await asyncio.sleep(0.05)
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "r")
        second = await inline(client, uri, BODY_LINE, BODY_COL + 1, invoked=False)
        assert await first == []
    assert len(fim.requests) == 1 and fim.requests[0].body["prompt"].endswith("    r")
    assert second[0].insert_text == "    r" + ANSWER


async def test_same_context_is_answered_from_the_cache(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        first = await inline(client, uri, BODY_LINE, BODY_COL)
        fim.text = "something else"  # a second request would show it
        second = await inline(client, uri, BODY_LINE, BODY_COL)
    assert len(fim.requests) == 1
    assert first[0].insert_text == second[0].insert_text == "    " + ANSWER


async def test_typing_the_start_of_a_completion_is_answered_from_the_cache(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        await inline(client, uri, BODY_LINE, BODY_COL, invoked=False)
        fim.text = "something else"
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "ret")
        items = await inline(client, uri, BODY_LINE, BODY_COL + 3, invoked=False)
        type_text(client, uri, 3, BODY_LINE, BODY_COL + 3, "urn a")
        items2 = await complete(client, uri, BODY_LINE, BODY_COL + 8)
    assert len(fim.requests) == 1
    assert items[0].insert_text == "    return a + b"
    assert items[0].range.end == types.Position(line=BODY_LINE, character=BODY_COL + 3)
    assert items2[0].text_edit.new_text == "    return a + b"  # the line so far plus the rest " + b"


UTILS = '''"""Helpers."""


def scale(values, factor):
    """Multiply every value by factor."""
    return [v * factor for v in values]
'''
MAIN = "from utils import scale\n\n\ndef main():\n    data = [1, 2, 3]\n    result = \n"
MAIN_CURSOR = (5, 13)


@pytest.mark.parametrize("utils_open", [True, False], ids=["open", "on-disk"])
async def test_cross_file_definitions_reach_the_server(fim, tmp_path, utils_open):
    utils = source_file(tmp_path, UTILS, "utils.py")
    main = source_file(tmp_path, MAIN, "main.py")
    fim.text = "scale(data, 2)"
    async with lsp(fim, tmp_path, workspace=main.parent) as client:
        if utils_open:
            open_document(client, utils)
        uri = open_document(client, main)
        items = await inline(client, uri, *MAIN_CURSOR)
    assert items[0].insert_text == "    result = scale(data, 2)"
    files = fim.requests[0].body["codefill"]["files"]
    assert any("def scale(values, factor)" in f["content"] and f["path"].endswith("utils.py") for f in files), files


async def test_workspace_folders_added_later_are_searched(fim, tmp_path):
    source_file(tmp_path, UTILS, "utils.py")
    main = source_file(tmp_path, MAIN, "main.py")
    async with lsp(fim, tmp_path) as client:
        client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(
                added=[types.WorkspaceFolder(uri=main.parent.as_uri(), name="ws")], removed=[])))
        uri = open_document(client, main)
        await inline(client, uri, *MAIN_CURSOR)
    files = fim.requests[0].body["codefill"]["files"]
    assert any("def scale(values, factor)" in f["content"] for f in files), files


async def test_no_automatic_request_with_code_right_of_the_cursor(fim, tmp_path):
    path = source_file(tmp_path, "total = compute(values)\n")
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        refused = await inline(client, uri, 0, 8, invoked=False)
        assert fim.requests == []
        closing_only = await inline(client, uri, 0, 22, invoked=False)  # only ")" to the right
        invoked = await inline(client, uri, 0, 8, invoked=True)  # a manual request always goes
    assert refused == []
    assert closing_only and invoked
    assert len(fim.requests) == 2


async def test_settings_from_initialization_options_and_configuration_changes(fim, tmp_path):
    path = source_file(tmp_path)
    init = {"maxTokens": 7, "temperature": 0.25, "model": "init-model", "noSuchSetting": 1}
    async with lsp(fim, tmp_path, init_options=init) as client:
        uri = open_document(client, path)
        await inline(client, uri, BODY_LINE, BODY_COL)
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codefill": {"maxTokens": 9, "model": None}}))
        await asyncio.sleep(0.2)
        await inline(client, uri, BODY_LINE, BODY_COL)
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codefill": {"maxTokens": "lots", "temperature": 0.5}}))
        await asyncio.sleep(0.2)
        await inline(client, uri, BODY_LINE, BODY_COL)
        warnings = [m.message for m in client.log_messages if m.type == types.MessageType.Warning]
    bodies = [r.body for r in fim.requests]
    assert [(b["max_tokens"], b["temperature"], b["model"]) for b in bodies] == [
        (7, 0.25, "init-model"),
        (9, 0.25, MODEL),  # null model: the first the server lists
        (9, 0.5, MODEL),  # the refused value kept the old one; the good one beside it applied
    ]
    assert any("noSuchSetting" in w for w in warnings)
    assert any("maxTokens" in w and "refused" in w for w in warnings)


async def test_api_key_is_sent(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path, "--api-key", "sekrit", "--model", "m") as client:
        uri = open_document(client, path)
        await inline(client, uri, BODY_LINE, BODY_COL)
    assert fim.requests[0].authorization == "Bearer sekrit"


async def test_settings_pulled_from_workspace_configuration(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path, configuration={"codefill": {"maxTokens": 11}}) as client:
        uri = open_document(client, path)
        await asyncio.sleep(0.2)  # `initialized` pulls the section
        await inline(client, uri, BODY_LINE, BODY_COL)
    assert fim.requests[0].body["max_tokens"] == 11


async def test_accepted_and_dismissed_commands_write_telemetry(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        [item] = await inline(client, uri, BODY_LINE, BODY_COL)
        apply_item(client, uri, 2, item)
        accepted = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=item.command.command, arguments=item.command.arguments))
        fim.text = "pass"
        [item2] = await complete(client, uri, 3, 0)
        dismissed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codefill.dismissed", arguments=[{"id": item2.command.arguments[0]}]))
        unknown = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codefill.accepted", arguments=["no-such-id"]))
    assert (accepted, dismissed, unknown) == (True, True, False)
    records = [json.loads(line) for line in (tmp_path / "data" / "telemetry.jsonl").read_text().splitlines()]
    assert [(r["completion"], r["accepted"], r["language"]) for r in records] == [
        (ANSWER, True, "python"), ("pass", False, "python")]
    assert all(r["context_hash"] and r["latency_ms"] >= 0 and r["time"] for r in records)


async def test_an_acceptance_of_text_that_is_not_in_the_document_is_not_recorded(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        [item] = await inline(client, uri, BODY_LINE, BODY_COL)
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "x = 1")  # typed something else, then "accepted"
        accepted = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=item.command.command, arguments=item.command.arguments))
    assert accepted is False
    assert not (tmp_path / "data" / "telemetry.jsonl").exists()


async def test_server_error_gives_an_empty_result(fim, tmp_path):
    path = source_file(tmp_path)
    fim.status = 500
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        failed = await inline(client, uri, BODY_LINE, BODY_COL)
        failed_item = await complete(client, uri, BODY_LINE, BODY_COL)
        fim.status = 200
        recovered = await inline(client, uri, BODY_LINE, BODY_COL)
    assert failed == [] and failed_item == []
    assert recovered[0].insert_text == "    " + ANSWER  # failures are not cached


async def test_timeout_gives_an_empty_result_and_aborts(fim, tmp_path):
    path = source_file(tmp_path)
    fim.first_chunk_delay_s = 30
    async with lsp(fim, tmp_path, init_options={"timeoutMs": 300}) as client:
        uri = open_document(client, path)
        started = time.monotonic()
        items = await inline(client, uri, BODY_LINE, BODY_COL)
        elapsed = time.monotonic() - started
        assert await asyncio.to_thread(fim.requests[0].ended.wait, 10)
    assert items == [] and elapsed < 5
    assert fim.requests[0].outcome == "aborted"


async def test_unreachable_server_gives_an_empty_result(fim, tmp_path):
    path = source_file(tmp_path)
    client = await start_lsp("http://127.0.0.1:9", "--data-dir", str(tmp_path / "data"), "--model", "m")
    try:
        uri = open_document(client, path)
        assert await inline(client, uri, BODY_LINE, BODY_COL) == []
    finally:
        await stop_lsp(client)


async def test_bad_requests_give_empty_results(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        never_opened = await inline(client, (tmp_path / "other.py").as_uri(), 0, 0)
        past_the_end = await inline(client, uri, 999, 999)
        # a change for a document that was never opened must not break the server
        type_text(client, (tmp_path / "ghost.py").as_uri(), 2, 0, 0, "x")
        fine = await inline(client, uri, BODY_LINE, BODY_COL)
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        closed = await inline(client, uri, BODY_LINE, BODY_COL)
    assert never_opened == [] and closed == []
    assert isinstance(past_the_end, list)
    assert fine[0].insert_text == "    " + ANSWER


async def test_positions_are_utf16_even_when_the_client_offers_utf8(fim, tmp_path):
    line = 'label = "é😀" + '
    path = source_file(tmp_path, f"{line}\n")
    character = len(line.encode("utf-16-le")) // 2  # the emoji counts 2
    fim.text = "suffix"
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        items = await inline(client, uri, 0, character)
    assert fim.requests[0].body["prompt"].endswith(line)
    assert items[0].insert_text == line + "suffix"
    assert items[0].range.end == types.Position(line=0, character=character)


async def test_raw_template_mode_builds_the_prompt_and_cuts_the_answer(fim, tmp_path):
    path = source_file(tmp_path, "def add(a, b):\n    return \n")
    fim.text = "a + b\nprint('the model went on')<|file_sep|>"
    async with lsp(fim, tmp_path, "--raw-fim-template", "qwen") as client:
        uri = open_document(client, path)
        items = await inline(client, uri, 1, 11)
    body = fim.requests[0].body
    assert "suffix" not in body and "codefill" not in body
    assert "<|fim_prefix|>" in body["prompt"] and body["prompt"].endswith("<|fim_middle|>")
    assert items[0].insert_text == "    return a + b"  # single line: cut at the newline
