"""While the user types, the prompt keeps its beginning: the prefix window moves in steps.

A prompt whose first line moves with every line typed makes the server's prefix cache
re-read the whole file at each keystroke; one that moves once in many lines lets it
re-read only the end.
"""

from __future__ import annotations

from codefill.lsp.context import ContextBuilder, windows
from codefill.lsp.documents import DocumentStore
from tests.unit.test_lsp_context import insert, open_file

TYPED = "".join(f"    value_{i} = compute(value_{i - 1}, factor={i})\n" for i in range(1, 41))


def _first_lines_while_typing(tmp_path, snap_lines: int = windows.SNAP_LINES) -> list[int]:
    body = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n\n" for i in range(200))
    text = body + "def main():\n    value_0 = 1\n"
    tmp_path.mkdir()
    store = DocumentStore([str(tmp_path)])
    doc = open_file(store, tmp_path, "mod.py", "python", text)
    builder = ContextBuilder(store, budget_tokens=1024, crossfile_budget_tokens=0, snap_lines=snap_lines)
    line = doc.line_count - 1
    starts = []
    for ch in TYPED:  # one keystroke at a time, a request after each
        character = len(doc.line_text(line))
        insert(store, doc, line, character, ch)
        if ch == "\n":
            line += 1
        ctx = builder.build(doc.uri, line, len(doc.line_text(line)))
        starts.append(ctx.start_line)
    return starts


def _moves(starts: list[int]) -> int:
    return sum(1 for a, b in zip(starts, starts[1:]) if a != b)


def test_the_window_start_moves_rarely_while_typing(tmp_path):
    starts = _first_lines_while_typing(tmp_path / "snapped")
    unsnapped = _first_lines_while_typing(tmp_path / "unsnapped", snap_lines=1)
    assert len(starts) == len(TYPED)
    assert starts == sorted(starts)  # only forward
    # Unsnapped, the start follows each function pushed out of the budget (statement
    # boundaries already hold it a few lines); snapped, it moves once per 16 lines.
    assert _moves(starts) <= _moves(unsnapped) / 3
    assert len(TYPED) / _moves(starts) > 150  # keystrokes with the same prompt start, on average
