"""Next edits in editors: as an inline completion item whose range replaces the next use of a
renamed name, and as Copilot-style `textDocument/copilotInlineEdit`; asked only after an edit
and a pause, dropped when the document moved on, never asked with `next_edit` off.

The real `codefill lsp` process against the fake server (tests/lsp_fakes.py: `/v1/next_edit`
answers `fim.next_edits`).
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.e2e.lsp_session import inline, open_document, type_text, wait_until
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
    assert answer == {"edits": [{**NEXT_USE, "textDocument": {"uri": uri, "version": 2}}]}
    assert stale == {"edits": []}
    assert len(fim.next_edit_requests) == 1
