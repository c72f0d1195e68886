"""The `textDocument/completion` item, as a spec-following client (pytest-lsp) gets it: the
exact range it replaces (in the version it answers) and a text that inserts whole. Neovim's
omnifunc path is tested in test_lsp_neovim.py."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest
from lsprotocol import types

from pytest_lsp import ClientServerConfig

from tests.e2e.lsp_session import CODEFILL, capabilities, complete, open_document, stop_lsp, type_text
from tests.lsp_fakes import FimFake


@pytest.fixture
def fim(fake_server: FimFake) -> FimFake:
    fake_server.reset()
    return fake_server


@contextlib.asynccontextmanager
async def lsp(fim: FimFake, tmp_path: Path, *, snippets: bool = True):
    """`codefill lsp` with a client that supports snippets (as Neovim, Helix and VS Code do), or not."""
    config = ClientServerConfig(server_command=[CODEFILL, "lsp", "--url", fim.url, "--data-dir",
                                                str(tmp_path / "data"), "--debounce-ms", "0"])
    client = await config.start()
    caps = capabilities()
    caps.text_document.completion = types.CompletionClientCapabilities(
        completion_item=types.ClientCompletionItemOptions(
            snippet_support=snippets,
            insert_text_mode_support=types.ClientCompletionItemInsertTextModeOptions(
                value_set=[types.InsertTextMode.AsIs, types.InsertTextMode.AdjustIndentation])))
    await client.initialize_session(types.InitializeParams(capabilities=caps,
                                                           client_info=types.ClientInfo(name="pytest-lsp")))
    try:
        yield client
    finally:
        await stop_lsp(client)


def source(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ws" / "shapes.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def expand(snippet: str) -> str:
    """What an LSP snippet without tabstops expands to (the spec's escapes: \\\\, \\$, \\})."""
    assert not re.search(r"(?<!\\)(?:\\\\)*\$[0-9{a-zA-Z_]", snippet), f"a live tabstop in {snippet!r}"
    return re.sub(r"\\([\\$}])", r"\1", snippet)


def edit(text: str, item: types.CompletionItem) -> str:
    """The document after applying the item's edit (single line, ASCII)."""
    lines = text.split("\n")
    rng = item.text_edit.range
    assert rng.start.line == rng.end.line
    line = lines[rng.start.line]
    new_text = item.text_edit.new_text
    if item.insert_text_format == types.InsertTextFormat.Snippet:
        new_text = expand(new_text)
    lines[rng.start.line] = line[:rng.start.character] + new_text + line[rng.end.character:]
    return "\n".join(lines)


def inserted(text: str, line: int, character: int, answer: str) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:character] + answer + lines[line][character:]
    return "\n".join(lines)


CASES = [
    # (document, cursor line, cursor column, answer)
    ("class Point:\n    pass\n\n\ndef add(a, b):\n    return Point\n", 5, 16, "(a.x + b.x, a.y + b.y)"),
    ("def add(a, b):\n", 0, 14, "\n    return a + b"),  # starts with a newline
    ("def bigger(a, b):\n    \n", 1, 4, "if a.x > b.x:\n        return a\n    return b"),  # multi-line
    ("def f(a):\n    if a:\n        x = \n", 2, 12, "a.x\n    return x"),  # dedents
    ("def g(a):\n\n", 1, 0, "    return a"),  # starts with indentation
    ("def h(a):\n    print(\n", 1, 10, 'f"${a}}" "\\n", end="")'),  # snippet syntax, escaped
]


@pytest.mark.parametrize(("text", "line", "character", "answer"), CASES)
async def test_the_item_inserts_the_whole_answer(fim, tmp_path, text, line, character, answer):
    path = source(tmp_path, text)
    fim.text = answer
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        [item] = await complete(client, uri, line, character)
    prefix = text.split("\n")[line][:character]
    # The line up to the cursor, replaced by itself and the answer.
    assert item.text_edit.range == types.Range(start=types.Position(line=line, character=0),
                                               end=types.Position(line=line, character=character))
    assert item.insert_text_format == types.InsertTextFormat.Snippet
    assert expand(item.text_edit.new_text) == prefix + answer
    assert edit(text, item) == inserted(text, line, character, answer)
    assert item.insert_text_mode == types.InsertTextMode.AsIs  # the further lines' indentation is the text's
    # Neovim's omnifunc inserts a snippet item's label: the whole text too.
    assert item.label == item.filter_text == prefix + answer
    assert item.documentation == answer
    assert item.command is not None and item.command.command == "codefill.accepted"


async def test_a_client_without_snippets_gets_plain_text(fim, tmp_path):
    text = "def h(a):\n    print(\n"
    path = source(tmp_path, text)
    fim.text = 'f"${a}}")\n    return a'
    async with lsp(fim, tmp_path, snippets=False) as client:
        uri = open_document(client, path)
        [item] = await complete(client, uri, 1, 10)
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.text_edit.new_text == item.label == '    print(f"${a}}")\n    return a'
    assert edit(text, item) == inserted(text, 1, 10, fim.text)


async def test_whitespace_right_of_the_cursor_keeps_the_label_to_one_line(fim, tmp_path):
    """Vim would indent a multi-line word's further lines by the whitespace right of the
    cursor: the label (what Neovim's omnifunc types) is then the first line; the edit is whole."""
    text = "def p(a):\n    x =   # note\n"
    path = source(tmp_path, text)
    fim.text = "foo(\n        1)"
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        [item] = await complete(client, uri, 1, 8)
    assert item.label == "    x = foo("
    assert expand(item.text_edit.new_text) == "    x = foo(\n        1)"
    assert edit(text, item) == "def p(a):\n    x = foo(\n        1)  # note\n"


async def test_a_late_answer_is_for_the_text_typed_since(fim, tmp_path):
    """The user types the start of the answer while the model thinks: the item replaces the
    line up to the new cursor, with the same whole line."""
    text = "def add(a, b):\n    \n"
    path = source(tmp_path, text)
    fim.text = "return a + b"
    fim.first_chunk_delay_s = 0.5
    async with lsp(fim, tmp_path) as client:
        uri = open_document(client, path)
        pending = asyncio.ensure_future(complete(client, uri, 1, 4))
        await asyncio.to_thread(fim.wait_for_requests, 1)
        type_text(client, uri, 2, 1, 4, "ret")
        [item] = await pending
        # The same again, but what was typed is not the answer's start: nothing.
        fim.text = "pass"
        type_text(client, uri, 3, 1, 7, "\n    ")
        pending = asyncio.ensure_future(complete(client, uri, 2, 4))
        await asyncio.to_thread(fim.wait_for_requests, 2)
        type_text(client, uri, 4, 2, 4, "x = 1")
        stale = await pending
    assert item.text_edit.range == types.Range(start=types.Position(line=1, character=0),
                                               end=types.Position(line=1, character=7))
    assert expand(item.text_edit.new_text) == "    return a + b"
    assert item.documentation == "urn a + b"
    assert stale == []
