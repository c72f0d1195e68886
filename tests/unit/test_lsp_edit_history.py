"""Edit events for next-edit prompts: keystrokes coalesce, files interleave by time, the budget
holds, and a reload, reopen or close forgets a document's history."""

from __future__ import annotations

from lsprotocol import types as lsp_types

from codefill.lsp.documents import DocumentStore
from codefill.lsp.edit_history import EditHistory, unified_diff
from tests.unit.test_lsp_documents import partial, whole

A, B = "file:///w/a.py", "file:///w/b.py"
TEXT = "".join(f"line{i} = {i}\n" for i in range(40))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def store_with(clock: Clock, **budget) -> DocumentStore:
    store = DocumentStore()
    store.history = EditHistory(clock=clock, **budget)
    store.open(A, "python", 1, TEXT)
    store.open(B, "python", 1, TEXT)
    return store


def type_text(store: DocumentStore, uri: str, line: int, character: int, text: str, clock: Clock | None = None):
    for ch in text:
        store.change(uri, 2, [partial((line, character), (line, character), ch)])
        character += 1
        if clock is not None:
            clock.now += 0.2


def test_keystrokes_coalesce_into_one_event_with_the_diff_of_the_run():
    clock = Clock()
    store = store_with(clock)
    type_text(store, A, 3, 5, "_x", clock)
    type_text(store, A, 5, 5, "_y", clock)  # two lines below, soon after: the same event
    [event] = store.edit_events()
    assert event.uri == A and event.path == "/w/a.py"
    assert event.diff == ("@@ -2,7 +2,7 @@\n line1 = 1\n line2 = 2\n-line3 = 3\n+line3_x = 3\n line4 = 4\n"
                          "-line5 = 5\n+line5_y = 5\n line6 = 6\n line7 = 7\n")


def test_a_pause_far_lines_or_another_file_start_a_new_event():
    clock = Clock()
    store = store_with(clock)
    type_text(store, A, 1, 5, "a", clock)
    clock.now += 10  # a pause
    type_text(store, A, 1, 6, "b", clock)
    type_text(store, A, 30, 6, "c", clock)  # far from the lines the event touched
    type_text(store, B, 1, 5, "d", clock)  # another file
    type_text(store, A, 30, 7, "e", clock)  # back in A: after B's event
    events = store.edit_events()
    assert [(e.uri, "+" + e.diff.split("\n+", 1)[1].split("\n")[0]) for e in events] == [
        (A, "+line1a = 1"), (A, "+line1ab = 1"), (A, "+line30c = 30"), (B, "+line1d = 1"), (A, "+line30ce = 30")]


def test_an_accepted_suggestion_is_an_event_of_its_own_however_soon_it_came():
    from codefill.lsp.next_edit_delivery import accepted_texts

    clock = Clock()
    store = store_with(clock)
    type_text(store, A, 3, 5, "_x", clock)  # the user's edit
    doc = store.get(A)
    use = {"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 5}}, "text": "line5_x"}
    other = {"range": {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 5}}, "text": "line7_x"}
    store.offer(A, doc.revision, accepted_texts(doc.text, [use, other], doc.offset_at))
    clock.now += 0.2  # well within the coalescing window
    store.change(A, 3, [partial((5, 0), (5, 5), "line5_x")])  # Tab: the first suggestion, as shown
    type_text(store, A, 5, 7, "!", clock)  # typing right after it joins the acceptance's event
    first, accepted = store.edit_events()
    assert "+line3_x = 3" in first.diff and "line5_x" not in first.diff
    assert "-line5 = 5\n+line5_x! = 5" in accepted.diff and "line3_x" not in accepted.diff.replace(" line3_x", "")
    # The same text, offered for a revision before the latest keystroke, coalesces as typing does.
    stale = doc.revision
    type_text(store, A, 5, 8, "!", clock)
    store.offer(A, stale, accepted_texts(doc.text, [other], doc.offset_at))
    store.change(A, 4, [partial((7, 0), (7, 5), "line7_x")])
    assert len(store.edit_events()) == 2


def test_typing_then_undoing_leaves_no_event():
    store = store_with(Clock())
    type_text(store, A, 2, 0, "x")
    store.change(A, 3, [partial((2, 0), (2, 1), "")])
    assert store.edit_events() == []


def test_the_budget_keeps_the_newest_events():
    clock = Clock()
    store = store_with(clock, max_events=3)
    for i in range(6):
        clock.now += 10
        type_text(store, A, i * 5, 0, f"e{i}", clock)
    events = store.edit_events()
    assert ["e3", "e4", "e5"] == [e.diff.split("\n+", 1)[1][:2] for e in events]
    assert len(store.history._closed) <= 3  # bounded while recorded, not only when read

    small = store_with(clock, max_chars=200)
    for i in range(6):
        clock.now += 10
        type_text(small, A, i * 5, 0, f"e{i}", clock)
    kept = small.edit_events()
    assert 0 < len(kept) < 6 and sum(len(e.diff) + len(e.path) for e in kept) <= 200
    assert kept[-1].diff == events[-1].diff


def test_a_huge_event_is_dropped():
    store = store_with(Clock(), max_event_chars=500)
    store.change(A, 2, [partial((0, 0), (0, 0), "x = 1\n" * 5)])  # a paste of 5 lines: kept
    assert len(store.edit_events()) == 1
    store.change(A, 3, [partial((10, 0), (10, 0), "y = 2\n" * 200)])
    assert len(store.edit_events()) == 0  # coalesced with it, and now too large to help


def test_an_external_reload_reopen_or_close_forgets_the_document():
    clock = Clock()
    store = store_with(clock)
    type_text(store, A, 1, 0, "a", clock)
    type_text(store, B, 1, 0, "b", clock)
    reloaded = "".join(f"other{i}\n" for i in range(40))
    store.change(A, 3, [whole(reloaded)])  # a full-text change of many lines: a reload
    assert [e.uri for e in store.edit_events()] == [B]
    type_text(store, A, 1, 0, "c", clock)  # typing after the reload is history again, against the new text
    assert [e.uri for e in store.edit_events()] == [B, A] and "+cother1" in store.edit_events()[1].diff
    store.open(B, "python", 5, TEXT)  # opened again
    assert [e.uri for e in store.edit_events()] == [A]
    store.close(A)
    assert store.edit_events() == []


def test_full_sync_typing_is_history_and_a_whole_range_replacement_is_a_reload():
    clock = Clock()
    store = store_with(clock)
    store.change(A, 2, [whole(TEXT.replace("line3 = 3", "line3 = 33"))])  # a full-sync keystroke
    assert len(store.edit_events()) == 1
    end = lsp_types.Position(40, 0)
    store.change(B, 2, [lsp_types.TextDocumentContentChangePartial(
        range=lsp_types.Range(lsp_types.Position(0, 0), end), text=TEXT.replace("= ", "== "))])
    assert [e.uri for e in store.edit_events()] == [A]


def test_unified_diff_numbers_hunks_in_the_whole_text():
    before = "".join(f"{i}\n" for i in range(100))
    after = before.replace("50\n", "fifty\n")
    assert unified_diff(before, after, 1) == "@@ -50,3 +50,3 @@\n 49\n-50\n+fifty\n 51\n"
    assert unified_diff("a\n", "a\n") == ""
    assert unified_diff("", "x\n") == "@@ -0,0 +1 @@\n+x\n"


def test_a_next_edit_request_has_the_window_around_the_cursor_and_the_events():
    from codefill.lsp.next_edit import next_edit_body

    clock = Clock()
    store = DocumentStore(["/w"])
    store.history = EditHistory(clock=clock)
    store.open(A, "python", 1, TEXT)
    type_text(store, A, 10, 6, "_new", clock)
    body = next_edit_body(store, A, 10, 99, model="m", above=2, below=3)
    assert body.window == "".join(TEXT.splitlines(keepends=True)[8:14]).replace("line10", "line10_new")
    assert (body.start_line, body.cursor_line, body.cursor_character) == (8, 10, len("line10_new = 10"))
    assert body.path == "a.py" and body.language == "python"
    assert [p for p, _ in body.events] == ["a.py"] and "+line10_new = 10" in body.events[0][1]
    last = next_edit_body(store, A, 40, 0, above=2, below=3)  # the empty line after the final break
    assert last.window.endswith("line39 = 39\n") and last.start_line == 38 and last.cursor_line == 40
    assert next_edit_body(store, "file:///w/closed.py", 0, 0) is None
