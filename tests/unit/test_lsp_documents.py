"""The document store: LSP positions, incremental edits, incremental parsing, recent edits."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types as lsp_types
from tree_sitter import Node
from tree_sitter_language_pack import get_parser

from codefill.lsp.documents import DocumentStore, SyntaxDocument, uri_to_path
from codefill.lsp.languages import language_for
from codefill.lsp.positions import LineIndex
from tests.lsp_edits import SNIPPETS, apply_edit, line_count, random_change


def partial(start: tuple[int, int], end: tuple[int, int], text: str) -> lsp_types.TextDocumentContentChangePartial:
    return lsp_types.TextDocumentContentChangePartial(
        range=lsp_types.Range(lsp_types.Position(*start), lsp_types.Position(*end)), text=text)


def whole(text: str) -> lsp_types.TextDocumentContentChangeWholeDocument:
    return lsp_types.TextDocumentContentChangeWholeDocument(text=text)


def node_dump(node: Node, out: list | None = None) -> list:
    """Every node with its type, byte range and points: stricter than the s-expression."""
    out = [] if out is None else out
    out.append((node.type, node.start_byte, node.end_byte, tuple(node.start_point), tuple(node.end_point),
                node.is_missing))
    for child in node.children:
        node_dump(child, out)
    return out


# --- positions ---------------------------------------------------------------


def test_offset_at_counts_utf16_units_and_clamps():
    text = "a😀b\r\nsecond\rthird\n"
    doc = SyntaxDocument("file:///x.txt", "plaintext", 1, text)
    assert doc.line_count == 4
    assert [doc.line_text(i) for i in range(4)] == ["a😀b", "second", "third", ""]
    assert doc.offset_at(0, 1) == 1
    assert doc.offset_at(0, 2) == 1  # inside the surrogate pair: before the emoji
    assert doc.offset_at(0, 3) == 2  # after the emoji (two UTF-16 units)
    assert doc.offset_at(0, 4) == 3
    assert doc.offset_at(0, 99) == 3  # past the end of the line: before "\r\n"
    assert doc.offset_at(1, 0) == 5
    assert doc.offset_at(2, 2) == text.index("third") + 2  # a lone "\r" breaks lines too
    assert doc.offset_at(3, 5) == len(text)
    assert doc.offset_at(10, 0) == len(text)
    assert doc.position_of(doc.offset_at(0, 3)) == (0, 3)
    assert doc.position_of(len(text)) == (3, 0)


def test_line_index_matches_regex_split_with_unusual_separators():
    # U+2028 and form feed are line breaks for str.splitlines but not for LSP.
    text = "a\u2028b\x0cc\nd\r\ne\rf"
    index = LineIndex(text)
    assert [text[index.line_start(i):index.line_end(i)] for i in range(index.line_count)] == \
        ["a\u2028b\x0cc", "d", "e", "f"]


def test_byte_offsets_round_trip_in_non_ascii_text():
    text = "é😀x\nß\n"
    doc = SyntaxDocument("file:///x.txt", "plaintext", 1, text)
    for i in range(len(text) + 1):
        byte = doc.byte_offset(i)
        assert byte == len(text[:i].encode("utf-8"))
        assert doc.str_offset(byte) == i


def test_uri_to_path():
    assert uri_to_path("file:///home/me/a%20b.py") == "/home/me/a b.py"
    assert uri_to_path("untitled:Untitled-1") is None


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", None, "python"),
        ("typescriptreact", "/a/b.tsx", "tsx"),
        (None, "/a/b.rs", "rust"),
        ("unknownlang", "/a/b.go", "go"),
        ("cpp", "/a/b.cc", "cpp"),
        ("plaintext", "/a/notes.txt", None),
        (None, None, None),
    ],
)
def test_language_for(language_id, path, expected):
    assert language_for(language_id, path) == expected


# --- editing -----------------------------------------------------------------


def test_incremental_change_edits_text_and_tree():
    store = DocumentStore()
    doc = store.open("file:///w/a.py", "python", 1, "def f():\n    return 1\n")
    old_tree = doc.tree
    store.change(doc.uri, 2, [partial((1, 11), (1, 12), "2 + 3")])
    assert doc.text == "def f():\n    return 2 + 3\n"
    assert doc.version == 2
    assert doc.tree is not old_tree
    assert str(doc.tree.root_node) == str(get_parser("python").parse(doc.text.encode()).root_node)
    assert "binary_operator" in str(doc.tree.root_node)


def test_full_sync_change_is_applied_as_the_differing_middle():
    store = DocumentStore()
    doc = store.open("file:///w/a.py", "python", 1, "a = 1\nb = 2\nc = 3\n")
    store.change(doc.uri, 2, [whole("a = 1\nb = 22\nc = 3\n")])
    assert doc.text == "a = 1\nb = 22\nc = 3\n"
    assert node_dump(doc.tree.root_node) == node_dump(get_parser("python").parse(doc.text.encode()).root_node)
    # Only the changed line counts as a recent edit, not the whole document.
    [record] = store.recent_edits()
    assert (record.start_line, record.end_line) == (1, 1)


def test_plain_text_documents_have_no_tree():
    store = DocumentStore()
    doc = store.open("file:///w/notes.txt", "plaintext", 1, "hello\n")
    assert doc.tree is None and doc.language is None
    store.change(doc.uri, 2, [partial((0, 5), (0, 5), " world")])
    assert doc.text == "hello world\n"


SOURCES = {
    "python": 'import os\n\n\ndef f(a, b):\n    """Doc 😀."""\n    return a + b\r\n\nclass K:\n'
              '    x = "é"\n    def m(self):\n        return [1,\n                2]\n',
    "javascript": 'import { a } from "./a";\r\n// é 😀\nfunction f(x) {\n  return x + 1;\n}\n'
                  'const g = (y) => {\n  return [y,\n    2];\n};\n',
    "rust": 'use crate::a;\n/// doc é\nfn f(x: i32) -> i32 {\n    x + 1\n}\nstruct S { a: i32 }\n',
}


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_random_edits_keep_text_and_tree_equal_to_fresh(language):
    """After random edit sequences (CRLF, astral characters, positions past line ends, several
    changes per notification, full-document changes) the incrementally parsed tree equals a
    fresh parse node for node, and the text equals an independently applied edit log."""
    parser = get_parser(language)
    extension = {"python": "py", "javascript": "js", "rust": "rs"}[language]
    for seed in range(40):
        rng = random.Random(seed)
        store = DocumentStore()
        expected = SOURCES[language]
        doc = store.open(f"file:///w/t.{extension}", language, 1, expected)
        for step in range(12):
            changes = []
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                if rng.random() < 0.08:
                    lines = expected.split("\n")
                    lines.insert(rng.randrange(len(lines) + 1), rng.choice(SNIPPETS))
                    new_text = "\n".join(lines)
                    changes.append(whole(new_text))
                    expected = new_text
                    continue
                count = line_count(expected)
                start = (rng.randrange(count + 1), rng.randrange(14))
                end = (start[0] + rng.choice([0, 0, 1, 2]), rng.randrange(14))
                if rng.random() < 0.5:
                    end = start
                snippet = rng.choice(SNIPPETS)
                changes.append(partial(start, end, snippet))
                expected = apply_edit(expected, start, end, snippet)
            store.change(doc.uri, step + 2, changes)
            assert doc.text == expected, (seed, step)
            fresh = parser.parse(expected.encode("utf-8"))
            assert str(doc.tree.root_node) == str(fresh.root_node), (seed, step)
            assert node_dump(doc.tree.root_node) == node_dump(fresh.root_node), (seed, step)


@pytest.mark.parametrize(("uri", "language_id"), [("file:///w/t.py", "python"), ("untitled:1", "klingon")])
def test_random_edits_with_unusual_line_breaks_keep_the_text(uri, language_id):
    """Form feed, U+2028 and NEL (line breaks for str.splitlines, not for LSP), positions past
    line and document ends, ranges given end first: the text follows the edit log."""
    for seed in range(20):
        rng = random.Random(seed)
        expected = "a\u2028b\x0cc\r\nsecond 🎉\rthird\x85x"
        store = DocumentStore()
        doc = store.open(uri, language_id, 1, expected)
        for step in range(30):
            start, end, new = random_change(rng, expected)
            store.change(uri, step + 2, [partial(start, end, new)])
            expected = apply_edit(expected, start, end, new)
            assert doc.text == expected, (seed, step)
        assert doc.line_count == line_count(expected)


# --- recent edits ------------------------------------------------------------


def test_recent_edits_merge_nearby_ranges_and_shift_with_line_changes():
    store = DocumentStore()
    text = "".join(f"line {i}\n" for i in range(40))
    a = store.open("file:///w/a.py", "python", 1, text)
    b = store.open("file:///w/b.py", "python", 1, text)
    store.change(a.uri, 2, [partial((30, 0), (30, 0), "x")])
    store.change(a.uri, 3, [partial((31, 0), (31, 0), "y")])  # next to the first: merged
    store.change(b.uri, 2, [partial((5, 0), (5, 0), "z")])
    store.change(a.uri, 4, [partial((2, 0), (2, 0), "new\nlines\n")])  # two lines above the first range
    records = store.recent_edits()
    assert [(r.uri, r.start_line, r.end_line) for r in records] == [
        (a.uri, 32, 33),  # shifted down by the two inserted lines
        (b.uri, 5, 5),
        (a.uri, 2, 4),
    ]
    assert records[0].seq < records[1].seq < records[2].seq
    store.close(b.uri)
    assert [r.uri for r in store.recent_edits()] == [a.uri, a.uri]


def test_workspace_folder_of_prefers_the_innermost_folder():
    store = DocumentStore(["/w", "/w/sub"])
    assert store.workspace_folder_of("/w/sub/x.py") == "/w/sub"
    assert store.workspace_folder_of("/w/x.py") == "/w"
    assert store.workspace_folder_of("/other/x.py") is None
