"""Next edits in editors: as an inline completion item whose range replaces the next use of a
renamed name, as Copilot-style `textDocument/copilotInlineEdit` and as `codefill/nextEdit`;
asked only after an edit and a pause, dropped when the document moved on, never asked with
`next_edit` off; accepted and dismissed ones recorded as telemetry of kind "next_edit".

The real `codefill lsp` process against the fake server (tests/lsp_fakes.py: `/v1/next_edit`
answers `fim.next_edits`).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from lsprotocol import types

from tests.e2e.lsp_session import apply_item, inline, open_document, type_text, wait_until
from tests.e2e.test_lsp_fake_server import ANSWER, lsp, source_file
from tests.lsp_fakes import FimFake

SOURCE = "def scale(size, factor):\n    return size * factor\n"
RENAMED = "def scale(length, factor):\n    return size * factor\n"
NEXT_USE = {"range": {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 15}},
            "text": "length"}
ON = {"nextEdit": True, "nextEditDebounceMs": 100}
CURSOR = (0, 16)  # after "length"
END = (1, 24)  # the end of the body's line: where FIM asks without being invoked


@pytest.fixture
def fim(fake_server: FimFake) -> FimFake:
    fake_server.reset(text=ANSWER)
    return fake_server


def _range(start: tuple[int, int], end: tuple[int, int]) -> types.Range:
    return types.Range(start=types.Position(line=start[0], character=start[1]),
                       end=types.Position(line=end[0], character=end[1]))


def rename_parameter(client, uri: str, version: int = 2) -> None:
    """What the user did: `size` renamed to `length` in the signature."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=_range((0, 10), (0, 14)), text="length")]))


async def _stats(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codefill.stats"))


async def _inline_edit(client, uri: str, version: int) -> dict:
    return await client.protocol.send_request_async("textDocument/copilotInlineEdit", {
        "textDocument": {"uri": uri, "version": version}, "position": {"line": CURSOR[0], "character": CURSOR[1]}})


def _plain(value):
    """pygls hands a custom request's result back as named tuples (or dicts, by version): as JSON."""
    if hasattr(value, "_asdict"):  # a named tuple: before the tuple test below
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


async def test_after_an_edit_and_a_pause_the_next_edit_is_the_inline_item(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        [item] = await inline(client, uri, *CURSOR, invoked=False)
        # No edit since: the same suggestion is not asked again, the cursor gets FIM ghost text.
        [again] = await inline(client, uri, *END, invoked=False)
        stats = await _stats(client)
    assert item.range == _range((1, 11), (1, 15)) and item.insert_text == "length"
    lines = RENAMED.splitlines(keepends=True)
    assert lines[1][:11] + item.insert_text + lines[1][15:] == "    return length * factor\n"
    [asked] = fim.next_edit_requests
    assert asked["window"] == {"text": RENAMED, "start_line": 0}
    assert asked["cursor"] == {"line": 0, "character": 16}
    assert "+def scale(length, factor):" in asked["events"][0]["diff"]
    assert again.insert_text == "    return size * factor" + fim.text and len(fim.requests) == 1
    assert stats["next_edit_sent"] == 1 and stats["next_edit_shown"] == 1


async def test_no_next_edit_falls_back_to_the_completion_at_the_cursor(fim, tmp_path):
    fim.next_edits = [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 4}},
                       "text": "x"}]  # over two lines: not for inline completion
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        [item] = await inline(client, uri, *END, invoked=False)
    assert len(fim.next_edit_requests) == 1 and len(fim.requests) == 1
    assert item.insert_text == "    return size * factor" + fim.text


async def test_a_newer_edit_drops_the_next_edit_under_way(fim, tmp_path):
    fim.next_edits, fim.next_edit_delay_s = [NEXT_USE], 0.8
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        pending = asyncio.ensure_future(inline(client, uri, *CURSOR, invoked=False))
        await wait_until(lambda: fim.next_edit_requests, what="the next-edit request")
        type_text(client, uri, 3, *CURSOR, "s")  # the user goes on typing: "lengths"
        items = await pending
        await wait_until(lambda: fim.next_edit_outcomes, what="the fake to see the request end")
        stats = await _stats(client)
    assert items == []  # neither the edit for version 2 nor FIM at version 2's cursor
    assert fim.next_edit_outcomes == ["aborted"] and fim.requests == []
    assert stats["stale_dropped"] == 1 and stats["next_edit_shown"] == 0


async def test_with_next_edit_off_no_next_edit_is_asked(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        await asyncio.sleep(0.5)
        [item] = await inline(client, uri, *END, invoked=False)
        inline_edit = _plain(await _inline_edit(client, uri, 2))
    assert item.insert_text == "    return size * factor" + fim.text
    assert inline_edit == {"edits": []}
    assert fim.next_edit_requests == []


async def test_copilot_inline_edit_answers_the_edits_with_their_version(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        answer = _plain(await _inline_edit(client, uri, 2))
        stale = _plain(await _inline_edit(client, uri, 1))  # a version the document no longer has
    [edit] = answer["edits"]
    command = edit.pop("command")
    assert edit == {**NEXT_USE, "textDocument": {"uri": uri, "version": 2}}
    assert command["command"] == "codefill.accepted" and len(command["arguments"]) == 1
    assert stale == {"edits": []}
    assert len(fim.next_edit_requests) == 1


async def _run(client, command: str, *arguments):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command,
                                                                                   arguments=list(arguments)))


def _records(tmp_path) -> list[dict]:
    path = tmp_path / "data" / "telemetry.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_an_accepted_next_edit_is_recorded_as_one(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        [item] = await inline(client, uri, *CURSOR, invoked=False)
        apply_item(client, uri, 3, item)  # the user accepts: "return length * factor"
        accepted = await _run(client, item.command.command, *item.command.arguments)
        again = await _run(client, item.command.command, *item.command.arguments)
    assert item.command.command == "codefill.accepted"
    assert (accepted, again) == (True, False)  # reported once
    [record] = _records(tmp_path)
    assert (record["kind"], record["completion"], record["accepted"], record["language"]) == (
        "next_edit", "length", True, "python")
    assert record["context_hash"] and record["latency_ms"] >= 0 and record["id"] == item.command.arguments[0]


async def test_a_next_edit_accepted_where_the_text_is_not_its_own_is_not_recorded(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        [item] = await inline(client, uri, *CURSOR, invoked=False)
        type_text(client, uri, 3, 1, 11, "s")  # "ssize": not the edit, yet "accepted"
        accepted = await _run(client, item.command.command, *item.command.arguments)
        dismissed = await _run(client, "codefill.dismissed", *item.command.arguments)  # forgotten
    assert (accepted, dismissed) == (False, False)
    assert _records(tmp_path) == []


async def test_a_dismissed_next_edit_is_recorded_as_one(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        [item] = await inline(client, uri, *CURSOR, invoked=False)
        dismissed = await _run(client, "codefill.dismissed", {"id": item.command.arguments[0]})
    assert dismissed is True
    assert [(r["kind"], r["completion"], r["accepted"]) for r in _records(tmp_path)] == [
        ("next_edit", "length", False)]


async def test_an_accepted_copilot_inline_edit_is_recorded_as_a_next_edit(fim, tmp_path):
    second = {"range": {"start": {"line": 1, "character": 18}, "end": {"line": 1, "character": 24}},
              "text": "ratio"}  # the same line, after the first: found where both put it
    fim.next_edits = [NEXT_USE, second]
    async with lsp(fim, tmp_path, init_options=ON) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        answer = _plain(await _inline_edit(client, uri, 2))
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[types.TextDocumentContentChangePartial(range=_range((1, 18), (1, 24)), text="ratio"),
                             types.TextDocumentContentChangePartial(range=_range((1, 11), (1, 15)),
                                                                    text="length")]))
        results = [await _run(client, e["command"]["command"], *e["command"]["arguments"]) for e in answer["edits"]]
    assert results == [True, True]
    assert [(r["kind"], r["completion"], r["accepted"]) for r in _records(tmp_path)] == [
        ("next_edit", "length", True), ("next_edit", "ratio", True)]


async def _next_edit(client, uri: str):
    answer = await client.protocol.send_request_async("codefill/nextEdit", {
        "textDocument": {"uri": uri}, "position": {"line": CURSOR[0], "character": CURSOR[1]}})
    return _plain(answer)


async def test_codefill_next_edit_answers_text_edits_for_the_version(fim, tmp_path):
    fim.next_edits = [NEXT_USE]
    async with lsp(fim, tmp_path) as client:  # an explicit request: whatever the `nextEdit` setting
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        answer = await _next_edit(client, uri)
        missing = await _next_edit(client, uri + "x")
        stats = await _stats(client)
    assert answer == {"version": 2, "edits": [{"range": NEXT_USE["range"], "newText": "length"}]}
    assert missing is None and stats["next_edit_sent"] == 1


async def test_codefill_next_edit_under_way_is_cancelled_by_a_newer_edit(fim, tmp_path):
    fim.next_edits, fim.next_edit_delay_s = [NEXT_USE], 0.8
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, source_file(tmp_path, SOURCE, "scale.py"))
        rename_parameter(client, uri)
        pending = asyncio.ensure_future(_next_edit(client, uri))
        await wait_until(lambda: fim.next_edit_requests, what="the next-edit request")
        type_text(client, uri, 3, *CURSOR, "s")
        answer = await pending
        await wait_until(lambda: fim.next_edit_outcomes, what="the fake to see the request end")
        stats = await _stats(client)
    assert answer is None  # no edits for version 2, and no claim of none for version 3
    assert fim.next_edit_outcomes == ["aborted"] and stats["stale_dropped"] == 1
