"""`codefill lsp` under abuse: seeded random edit sequences, odd documents, a 5 MB file,
and completion servers that hang or fail.

What the user would notice, checked from outside the process:
- the text the model is shown (the `prompt` + `suffix` the fake server receives) is
  exactly the document as the client edited it, checked against an independently
  applied edit log (`tests/lsp_edits.py`) after every batch of changes;
- a completion server that hangs or fails costs one empty answer within the
  configured timeout (plus a margin), and the next request is served;
- the language server never crashes and logs no error.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.lsp_session import complete, inline, start_lsp, stop_lsp
from tests.fakes import FakeServer
from tests.lsp_edits import MORE_SNIPPETS, apply_edit, index_of, random_change, random_position
from tests.lsp_fakes import FimFake

ANSWER = "pass"
# Margin on top of the configured timeout for "answers within its budget": process and
# event-loop scheduling on a loaded 2-core CI machine, not the server's own slack.
MARGIN_S = 2.0
# Big enough that the prefix and suffix windows hold a whole test document (~3.5 characters
# a token), so the text the model is shown can be compared with the document itself.
WHOLE_DOCUMENT_TOKENS = 131_072


@pytest.fixture(scope="module")
def fake_server():
    fim = FimFake()
    with FakeServer(fim.app()) as server:
        fim.url = server.url  # type: ignore[attr-defined]
        yield fim


@pytest.fixture
def fim(fake_server: FimFake) -> FimFake:
    fake_server.reset(text=ANSWER)
    return fake_server


@contextlib.asynccontextmanager
async def lsp(url: str, tmp_path: Path, *args: str, **kw):
    """A session whose log is checked for errors at the end; the process must still be
    running then (a crash anywhere in between fails the test)."""
    log_file = tmp_path / "lsp.log"
    client = await start_lsp(url, "--data-dir", str(tmp_path / "data"), "--debounce-ms", "0",
                             "--log-file", str(log_file), *args, **kw)
    try:
        yield client
        assert_alive(client)
    finally:
        await stop_lsp(client)
    errors = [line for line in log_file.read_text(errors="replace").splitlines()
              if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]
    assert errors == [], "the language server logged errors:\n" + "\n".join(errors[:20])


def assert_alive(client: LanguageClient) -> None:
    process = client._server  # pygls keeps the subprocess it started here
    assert process is not None and process.returncode is None, "the language server exited"


class Mirror:
    """One document as the client sees it: every change is sent to the server and applied
    to `text` by the independent edit model."""

    def __init__(self, client: LanguageClient, uri: str, language_id: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)))

    def change(self, edits: list[tuple[tuple[int, int], tuple[int, int], str] | str]) -> None:
        """One didChange with these changes, applied in order: (start, end, text) ranges, or
        a plain string for a whole-document change."""
        events: list[types.TextDocumentContentChangeEvent] = []
        for edit in edits:
            if isinstance(edit, str):
                events.append(types.TextDocumentContentChangeWholeDocument(text=edit))
                self.text = edit
                continue
            start, end, new = edit
            events.append(types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=new))
            self.text = apply_edit(self.text, start, end, new)
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=events))

    async def shown(self, fim: FimFake, line: int, character: int) -> tuple[str, str, float]:
        """(prompt, suffix) the model was sent for a completion at this position, and the
        seconds the answer took."""
        before = len(fim.requests)
        started = time.monotonic()
        items = await inline(self.client, self.uri, line, character)
        elapsed = time.monotonic() - started
        sent = fim.requests[before:]
        assert len(sent) == 1, f"expected one request to the model, got {len(sent)}"
        assert [item.insert_text.endswith(ANSWER) for item in items] == [True]
        return sent[0].body["prompt"], sent[0].body["suffix"], elapsed

    async def assert_in_sync(self, fim: FimFake, rng: random.Random, what: str) -> None:
        """The model is shown the whole document, split at the cursor, exactly."""
        line, character = random_position(rng, self.text, past_end=0.1)
        prompt, suffix, _ = await self.shown(fim, line, character)
        cursor = index_of(self.text, line, character)
        assert prompt + suffix == self.text, f"{what}: the server's document differs from the client's"
        assert prompt == self.text[:cursor], f"{what}: cursor ({line}, {character}) at the wrong place"


def random_batch(rng: random.Random, text: str) -> list:
    """1-4 changes, each against the text the previous ones left; now and then a
    whole-document change (clients may send one even under incremental sync)."""
    edits: list = []
    for _ in range(rng.choice([1, 1, 2, 4])):
        if rng.random() < 0.05:
            lines = text.split("\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(MORE_SNIPPETS))
            text = "\n".join(lines)
            edits.append(text)
            continue
        start, end, new = random_change(rng, text)
        edits.append((start, end, new))
        text = apply_edit(text, start, end, new)
    return edits


DOCUMENTS = [
    # (uri name, languageId, text): CRLF without a final line break (positions past the
    # end of the last line), lone CRs, emoji, unknown languages, an unsaved buffer.
    ("calc.py", "python", "import os\r\n\r\ndef f(a):\r\n    return '😀' + a"),
    ("spell.klingon", "klingon", "Qapla'!\n🖖 nuqneH\n\ttlhIngan Hol\n"),
    ("old.js", "javascript", "function f(x) {\r  return x; // é\r}\r"),
    ("untitled:Untitled-1", "", ""),
    ("notes", "plaintext", "a\u2028b\x0cc\nsecond line 🎉🎉\n"),
]


async def test_random_edits_keep_documents_in_sync(fim, tmp_path):
    rng = random.Random(7)
    async with lsp(fim.url, tmp_path, "--context-tokens", str(WHOLE_DOCUMENT_TOKENS),
                   init_options={"cacheSize": 0}) as client:
        mirrors = []
        for name, language_id, text in DOCUMENTS:
            uri = name if ":" in name else (tmp_path / "ws" / name).as_uri()
            mirrors.append(Mirror(client, uri, language_id, text))
        for batch in range(30):
            for mirror in mirrors:
                mirror.change(random_batch(rng, mirror.text))
                await mirror.assert_in_sync(fim, rng, f"{mirror.uri} after batch {batch}")
        # Several changes to several documents without a request in between.
        for _ in range(5):
            for mirror in mirrors:
                mirror.change(random_batch(rng, mirror.text))
        for mirror in mirrors:
            await mirror.assert_in_sync(fim, rng, f"{mirror.uri} at the end")


def five_megabytes() -> str:
    """~5 MB of Python-ish code (over the size parsed by tree-sitter), some of it non-ASCII
    and with CRLF line ends."""
    block = ("def handler_{n}(request, *args):\n"
             "    '''Handle request {n}: é 😀'''\r\n"
             "    value = request.get('key_{n}', {n}) * 2\n"
             "    return value\n\n\n")
    parts, size, n = [], 0, 0
    while size < 5 * 2**20:
        part = block.format(n=n)
        parts.append(part)
        size += len(part)
        n += 1
    return "".join(parts)


async def test_a_5mb_document_stays_in_sync_and_is_answered_within_the_budget(fim, tmp_path):
    rng = random.Random(11)
    timeout_ms = 5000
    async with lsp(fim.url, tmp_path, "--timeout-ms", str(timeout_ms), init_options={"cacheSize": 0}) as client:
        started = time.monotonic()
        mirror = Mirror(client, (tmp_path / "ws" / "big.py").as_uri(), "python", five_megabytes())
        for batch in range(6):
            start, end, new = random_change(rng, mirror.text)
            mirror.change([(start, end, new)])
            # The window around the edit: the prompt ends at the cursor, the suffix starts there.
            line, character = start
            prompt, suffix, elapsed = await mirror.shown(fim, line, character)
            cursor = index_of(mirror.text, line, character)
            assert mirror.text[:cursor].endswith(prompt) and len(prompt) > 1000, f"prompt of batch {batch}"
            assert mirror.text[cursor:].startswith(suffix), f"suffix of batch {batch}"
            assert elapsed < timeout_ms / 1000 + MARGIN_S, f"batch {batch} took {elapsed:.1f} s"
        total = time.monotonic() - started
    print(f"5 MB document: open, 6 edits and 6 completions in {total:.1f} s")


async def test_a_hanging_or_failing_server_costs_one_empty_answer(fim, tmp_path):
    timeout_ms = 1500
    budget_s = timeout_ms / 1000 + MARGIN_S
    rng = random.Random(3)
    async with lsp(fim.url, tmp_path, "--timeout-ms", str(timeout_ms),
                   "--context-tokens", str(WHOLE_DOCUMENT_TOKENS), init_options={"cacheSize": 0}) as client:
        mirror = Mirror(client, (tmp_path / "ws" / "calc.py").as_uri(), "python",
                        "def add(a, b):\n    \n\nprint(add(1, 2))\n")
        await mirror.assert_in_sync(fim, rng, "before the failures")

        # (a) the model hangs after the response headers; the user keeps typing meanwhile.
        fim.first_chunk_delay_s = 60
        started = time.monotonic()
        hanging = asyncio.create_task(inline(client, mirror.uri, 1, 4))
        for _ in range(3):
            mirror.change(random_batch(rng, mirror.text))
        hung = await hanging
        hang_s = time.monotonic() - started
        assert hung == [] and hang_s < budget_s, f"answered {hung!r} after {hang_s:.1f} s"
        # The HTTP stream was closed, so a real server aborts its engine request.
        assert await asyncio.to_thread(fim.requests[-1].ended.wait, 10)
        assert fim.requests[-1].outcome == "aborted"
        fim.first_chunk_delay_s = 0

        # (b) the server answers 500.
        fim.status = 500
        started = time.monotonic()
        failed = await inline(client, mirror.uri, 1, 4)
        failed_item = await complete(client, mirror.uri, 1, 4)
        fail_s = time.monotonic() - started
        assert failed == [] and failed_item == [] and fail_s < budget_s
        fim.status = 200

        # Served again, with the edits made during the failures in place.
        await mirror.assert_in_sync(fim, rng, "after the failures")
    print(f"hang answered (empty) in {hang_s:.2f} s, two 500s in {fail_s:.2f} s (timeout {timeout_ms} ms)")


@contextlib.contextmanager
def silent_server():
    """Accepts connections and reads, but never answers, not even with headers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


async def test_a_server_that_never_answers_costs_one_empty_answer(fim, tmp_path):
    timeout_ms = 1500
    with silent_server() as url:
        async with lsp(url, tmp_path, "--model", "m", "--timeout-ms", str(timeout_ms)) as client:
            mirror = Mirror(client, (tmp_path / "ws" / "calc.py").as_uri(), "python", "def add(a, b):\n    \n")
            started = time.monotonic()
            items = await inline(client, mirror.uri, 1, 4)
            elapsed = time.monotonic() - started
            assert items == [] and elapsed < timeout_ms / 1000 + MARGIN_S, f"{items!r} after {elapsed:.1f} s"
            # Pointed at a working server, the same session answers.
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"codefill": {"url": fim.url, "model": None}}))
            prompt, _, _ = await mirror.shown(fim, 1, 4)
            assert prompt == "def add(a, b):\n    "
    print(f"silent server: empty answer in {elapsed:.2f} s (timeout {timeout_ms} ms)")
