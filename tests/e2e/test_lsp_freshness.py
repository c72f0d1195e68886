"""The language server never answers for text that is gone, and asks only where the user types.

The real `codefill lsp` process against the deterministic fake server: the model is made
slow, the user types while it thinks, and the answer must fit the document as it is then.
"""

from __future__ import annotations

import asyncio

from lsprotocol import types

from tests.e2e.lsp_session import inline, open_document, type_text
from tests.e2e.test_lsp_fake_server import BODY_COL, BODY_LINE, fim, lsp, source_file, wait_until  # noqa: F401

SIGNATURE = "def grow_all(circles: list[Circle], "
ANSWER = "factor: float) -> list[Circle]:"
SOURCE = f"class Circle:\n    pass\n\n\n{SIGNATURE}\n"
LINE, COL = 4, len(SIGNATURE)


async def _stats(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codefill.stats"))


async def _ask_then_type(client, fim, uri: str, typed: str) -> list[types.InlineCompletionItem]:
    """Ask at the end of the signature; type `typed` while the model is still answering."""
    fim.text, fim.first_chunk_delay_s = ANSWER, 0.6
    pending = asyncio.ensure_future(inline(client, uri, LINE, COL))
    await wait_until(lambda: fim.requests, what="the request to reach the model")
    for i, ch in enumerate(typed):  # one keystroke each, as an editor sends them
        type_text(client, uri, 2 + i, LINE, COL + i, ch)
    return await pending


async def test_an_answer_for_replaced_text_is_not_shown(fim, tmp_path):
    path = source_file(tmp_path, SOURCE, "shapes.py")
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        items = await _ask_then_type(client, fim, uri, "k: float")
        stats = await _stats(client)
    assert items == []
    assert stats["stale_dropped"] == 1 and stats["shown"] == 0


async def test_enter_after_the_request_drops_the_answer_for_the_old_line(fim, tmp_path):
    path = source_file(tmp_path, SOURCE, "shapes.py")
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        items = await _ask_then_type(client, fim, uri, "\n")
    assert items == []


async def test_typing_the_start_of_the_answer_shows_the_rest_at_the_new_cursor(fim, tmp_path):
    path = source_file(tmp_path, SOURCE, "shapes.py")
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        [item] = await _ask_then_type(client, fim, uri, "fact")
        stats = await _stats(client)
    # Range and text are for the document with "fact" typed: accepting gives exactly the answer.
    assert item.range == types.Range(start=types.Position(line=LINE, character=0),
                                     end=types.Position(line=LINE, character=COL + 4))
    assert item.insert_text == SIGNATURE + ANSWER
    assert stats["stale_adjusted"] == 1 and stats["sent"] == 1


def edit_one_of_two(client, tmp_path) -> tuple[str, str]:
    """calc.py and shapes.py open, "f" typed in shapes.py: (shapes.py's uri, calc.py's)."""
    other_uri = open_document(client, source_file(tmp_path, "def add(a, b):\n    \n", "calc.py"))
    uri = open_document(client, source_file(tmp_path, SOURCE, "shapes.py"))
    type_text(client, uri, 2, LINE, COL, "f")
    return uri, other_uri


async def test_automatic_requests_for_a_document_not_being_edited_do_not_reach_the_model(fim, tmp_path):
    async with lsp(fim, tmp_path) as client:
        uri, other_uri = edit_one_of_two(client, tmp_path)
        # A client that asks for every buffer: the other one, at the edited buffer's cursor.
        elsewhere = await inline(client, other_uri, 1, 4, invoked=False)
        here = await inline(client, uri, LINE, COL + 1, invoked=False)
        manual = await inline(client, other_uri, 1, 4, invoked=True)  # the user asked: it goes
        stats = await _stats(client)
    assert elsewhere == []
    assert here and manual
    assert [r.body["codefill"]["path"].rsplit("/", 1)[-1] for r in fim.requests] == ["shapes.py", "calc.py"]
    assert stats["skipped"] == 1 and stats["sent"] == 2


async def test_a_request_after_typing_the_answers_start_waits_for_the_model_request_under_way(fim, tmp_path):
    path = source_file(tmp_path, SOURCE, "shapes.py")
    fim.text, fim.first_chunk_delay_s = ANSWER, 0.8
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        first = asyncio.ensure_future(inline(client, uri, LINE, COL, invoked=False))
        await wait_until(lambda: fim.requests, what="the request to reach the model")
        type_text(client, uri, 2, LINE, COL, "fa")
        # The editor asks again after the keystrokes; the model is still thinking about the first.
        [item] = await inline(client, uri, LINE, COL + 2, invoked=False)
        assert await first == []  # superseded by the second
        stats = await _stats(client)
    assert len(fim.requests) == 1 and fim.requests[0].outcome == "completed"
    assert item.insert_text == SIGNATURE + ANSWER
    assert item.range.end == types.Position(line=LINE, character=COL + 2)
    assert stats["in_flight_hits"] == 1 and stats["sent"] == 1


async def test_a_keystroke_that_contradicts_the_answer_so_far_aborts_the_model_request(fim, tmp_path):
    path = source_file(tmp_path, SOURCE, "shapes.py")
    fim.text, fim.chunk_delay_s, fim.chunk_chars = ANSWER + " # " + "x" * 400, 0.05, 2
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        first = asyncio.ensure_future(inline(client, uri, LINE, COL, invoked=False))
        await wait_until(lambda: len(fim.requests[0].sent) >= 6 if fim.requests else False,
                         what="the answer to begin")
        type_text(client, uri, 2, LINE, COL, "k")  # the model wrote "factor..."
        assert await asyncio.to_thread(fim.requests[0].ended.wait, 10)
        assert await first == []
    assert fim.requests[0].outcome == "aborted"


async def test_a_document_switched_to_is_where_the_user_types_before_any_edit(fim, tmp_path):
    """didFocus (the README's Neovim recipe sends it on BufEnter) moves the focus without an edit;
    one for a document never opened, or without a uri, changes nothing and breaks nothing."""
    async with lsp(fim, tmp_path) as client:
        _, other_uri = edit_one_of_two(client, tmp_path)
        client.protocol.notify("textDocument/didFocus", {"textDocument": {"uri": (tmp_path / "gone.py").as_uri()}})
        client.protocol.notify("textDocument/didFocus", {"textDocument": {}})
        assert await inline(client, other_uri, 1, 4, invoked=False) == []  # still shapes.py's focus
        client.protocol.notify("textDocument/didFocus", {"textDocument": {"uri": other_uri}})
        there = await inline(client, other_uri, 1, 4, invoked=False)
        stats = await _stats(client)
    assert there
    assert [r.body["codefill"]["path"].rsplit("/", 1)[-1] for r in fim.requests] == ["calc.py"]
    assert stats["skipped"] == 1 and stats["sent"] == 1


async def test_a_request_that_joined_an_answer_which_does_not_fit_asks_the_model_anew(fim, tmp_path):
    """Typed before any of the answer came: the new request waits for the one under way (it may
    fit); when it does not, the user still gets an answer for what they typed, not nothing (editors
    do not ask again at a position they got an empty answer for)."""
    path = source_file(tmp_path, SOURCE, "shapes.py")
    fim.first_chunk_delay_s = 0.8
    fim.answer = lambda body: ANSWER if body["prompt"].endswith(SIGNATURE) else "= 2.0) -> None:"
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        first = asyncio.ensure_future(inline(client, uri, LINE, COL, invoked=False))
        await wait_until(lambda: fim.requests, what="the request to reach the model")
        type_text(client, uri, 2, LINE, COL, "k")
        [item] = await inline(client, uri, LINE, COL + 1, invoked=False)
        assert await first == []
        stats = await _stats(client)
    assert len(fim.requests) == 2 and fim.requests[0].outcome == "completed"
    assert item.insert_text == SIGNATURE + "k= 2.0) -> None:"
    assert item.range.end == types.Position(line=LINE, character=COL + 1)
    assert stats["in_flight_hits"] == 1 and stats["sent"] == 2 and stats["stale_dropped"] == 1
