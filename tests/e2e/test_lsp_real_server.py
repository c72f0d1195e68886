"""`codefill lsp` against a real `codefill serve` (the tiny random model, transformers engine):
the whole path, context to engine and back, without fakes."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from tests.e2e.lsp_session import complete, inline, open_document, start_lsp, stop_lsp

SOURCE = "import math\n\n\ndef area(radius):\n    \n\n\nprint(area(2.0))\n"


async def test_inline_and_item_completions_from_codefill_serve(tiny_hf_server, tmp_path: Path):
    path = tmp_path / "ws" / "geometry.py"
    path.parent.mkdir()
    path.write_text(SOURCE)
    # Greedy tokens of a random model may be only whitespace at one cursor, so two are tried.
    client = await start_lsp(tiny_hf_server.url, "--data-dir", str(tmp_path / "data"), "--max-tokens", "24",
                             workspace=path.parent)
    try:
        uri = open_document(client, path)
        items = await inline(client, uri, 4, 4)
        completions = await complete(client, uri, 4, 4)
        other = await inline(client, uri, 7, 0)
    finally:
        await stop_lsp(client)
    assert items, "no inline completion from codefill serve"
    assert items[0].insert_text.startswith("    ") and items[0].insert_text.strip()
    assert items[0].range == types.Range(start=types.Position(line=4, character=0),
                                         end=types.Position(line=4, character=4))
    assert completions and completions[0].text_edit.new_text == items[0].insert_text
    assert isinstance(other, list)
