"""What the editor is told (codefill.lsp.editor_status) and how the log reaches it (codefill.lsp.editor_log),
without a client: fake servers record what would be sent. End to end: tests/e2e/test_lsp_editor_status.py."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from lsprotocol import types

from codefill.lsp.editor_log import EditorLogHandler
from codefill.lsp.editor_status import FAILURE_STREAK, MAX_UNANSWERED_CREATES, EditorStatus
from codefill.lsp.http_client import CompletionFailed

URL = "http://gpu-box:8000"


class FakeServer:
    """What EditorStatus and EditorLogHandler use of the pygls server."""

    def __init__(self, *, progress: bool = False, api_key: str | None = None) -> None:
        self.settings = SimpleNamespace(url=URL, api_key=api_key)
        self.client_capabilities = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=progress))
        self.shown: list[types.ShowMessageParams] = []
        self.logged: list[types.LogMessageParams] = []
        self.sent: list[tuple[str, object]] = []  # (method, params) in order
        self.creates: list[Future] = []
        self.protocol = SimpleNamespace(send_request=self._send_request, writer=object())

    def _send_request(self, method, params):
        self.sent.append((method, params))
        future: Future = Future()
        self.creates.append(future)
        return future

    def window_show_message(self, params):
        self.shown.append(params)

    def window_log_message(self, params):
        self.logged.append(params)

    def progress(self, params):
        self.sent.append(("$/progress", params))

    def progress_kinds(self) -> list[str]:
        return [p.value.kind if method == "$/progress" else "create" for method, p in self.sent]


def unreachable(url: str = URL) -> CompletionFailed:
    exc = CompletionFailed(f"request to {url} failed: ConnectError: refused", kind="unreachable", url=url)
    exc.__cause__ = ConnectionRefusedError("connection refused")
    return exc


def refused(status: int = 401) -> CompletionFailed:
    return CompletionFailed.from_status(f"{URL}/v1/completions answered {status}: bad key", status, URL)


def timeout() -> CompletionFailed:
    return CompletionFailed(f"no answer from {URL} within 300 ms", kind="timeout", url=URL)


def test_kinds_from_http_status():
    assert refused(401).kind == refused(403).kind == "refused"
    assert CompletionFailed.from_status("x", 500, URL).kind == "error"
    assert CompletionFailed("x").kind == "error"


def test_unreachable_is_shown_once_until_a_success():
    server = FakeServer()
    status = EditorStatus(server)
    for _ in range(5):
        status.failed(unreachable())
    [message] = server.shown
    assert message.type == types.MessageType.Error
    assert URL in message.message and "`url`" in message.message and "--url" in message.message
    status.succeeded()
    status.failed(unreachable())
    status.failed(unreachable())
    assert len(server.shown) == 2


def test_another_url_or_kind_is_a_new_situation():
    server = FakeServer()
    status = EditorStatus(server)
    status.failed(unreachable())
    status.failed(unreachable("http://elsewhere:1"))
    status.failed(refused())
    status.failed(refused())
    assert [("elsewhere" in m.message, "apiKey" in m.message) for m in server.shown] == [
        (False, False), (True, False), (False, True)]


def test_refused_key_names_the_setting():
    keyed, unkeyed = FakeServer(api_key="sekrit"), FakeServer()
    EditorStatus(keyed).failed(refused(403))
    EditorStatus(unkeyed).failed(refused(401))
    assert "refused the API key (HTTP 403)" in keyed.shown[0].message
    assert "wants an API key (HTTP 401)" in unkeyed.shown[0].message
    for server in (keyed, unkeyed):
        assert "`apiKey`" in server.shown[0].message and "--api-key" in server.shown[0].message
        assert "sekrit" not in server.shown[0].message


def test_timeouts_are_told_once_per_streak_as_a_warning():
    server = FakeServer()
    status = EditorStatus(server)
    for _ in range(FAILURE_STREAK - 1):
        status.failed(timeout())
    status.succeeded()  # a busy server that answers now and then: nothing to say
    for _ in range(FAILURE_STREAK - 1):
        status.failed(timeout())
    assert server.shown == []
    for _ in range(4):
        status.failed(timeout())
    [message] = server.shown
    assert message.type == types.MessageType.Warning and "timeoutMs" in message.message


def test_without_a_server_nothing_is_sent():
    status = EditorStatus()
    status.failed(unreachable())
    status.succeeded()
    assert not status.progress_supported()


# --- progress ---

async def _pending(status: EditorStatus, body):
    async with status.pending("file:///ws/calc.py"):
        await body()


async def test_progress_begins_once_created_and_ends_with_the_request():
    server = FakeServer(progress=True)
    status = EditorStatus(server)
    answered = asyncio.Event()

    async def body():
        server.creates[0].set_result(None)  # the client answers `create` while the model works
        await answered.wait()

    task = asyncio.ensure_future(_pending(status, body))
    await asyncio.sleep(0)
    assert server.progress_kinds() == ["create", "begin"]  # the request went without waiting for the answer
    answered.set()
    await task
    assert server.progress_kinds() == ["create", "begin", "end"]
    tokens = {params.token for _, params in server.sent}
    assert len(tokens) == 1
    assert server.sent[1][1].value.message == "completing calc.py"
    assert server.sent[2][1].value.message == "done"


async def test_progress_over_before_the_answer_is_ended_when_the_answer_comes():
    server = FakeServer(progress=True)
    status = EditorStatus(server)

    async def body():
        pass

    await _pending(status, body)
    assert server.progress_kinds() == ["create"]
    server.creates[0].set_result(None)
    assert server.progress_kinds() == ["create", "end"]


async def test_progress_refused_by_the_client_sends_nothing_more():
    server = FakeServer(progress=True)
    status = EditorStatus(server)

    async def body():
        server.creates[0].set_exception(RuntimeError("no"))

    await _pending(status, body)
    assert server.progress_kinds() == ["create"]


@pytest.mark.parametrize("ending", ["failure", "cancellation"])
async def test_progress_ends_on_failure_and_cancellation(ending):
    server = FakeServer(progress=True)
    status = EditorStatus(server)

    async def body():
        server.creates[0].set_result(None)
        if ending == "failure":
            raise timeout()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(_pending(status, body))
    await asyncio.sleep(0.01)
    if ending == "cancellation":
        task.cancel()
    with pytest.raises((CompletionFailed, asyncio.CancelledError)):
        await task
    assert server.progress_kinds() == ["create", "begin", "end"]
    assert server.sent[-1][1].value.message == ("no completion" if ending == "failure" else "cancelled")


async def test_no_progress_without_the_capability_or_for_a_silent_client():
    server = FakeServer(progress=False)
    await _pending(EditorStatus(server), lambda: asyncio.sleep(0))
    assert server.sent == []
    silent = FakeServer(progress=True)  # never answers `create`
    status = EditorStatus(silent)
    for _ in range(MAX_UNANSWERED_CREATES + 3):
        await _pending(status, lambda: asyncio.sleep(0))
    assert silent.progress_kinds() == ["create"] * MAX_UNANSWERED_CREATES


# --- the log ---

def _handler(server: FakeServer | None = None) -> tuple[EditorLogHandler, io.StringIO, logging.Logger]:
    stderr = io.StringIO()
    fallback = logging.StreamHandler(stderr)
    fallback.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler = EditorLogHandler(fallback)
    logger = logging.getLogger(f"test.editor_log.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler, stderr, logger


async def test_log_records_reach_the_client_at_their_level():
    server = FakeServer()
    handler, stderr, logger = _handler()
    logger.info("before initialize")  # held for the client
    logger.warning("early warning")  # a start that fails must be seen: stderr at once
    handler.connect(server)
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    assert [(m.type, m.message.rsplit(": ", 1)[-1]) for m in server.logged] == [
        (types.MessageType.Info, "before initialize"), (types.MessageType.Log, "d"),
        (types.MessageType.Info, "i"), (types.MessageType.Warning, "w"), (types.MessageType.Error, "e")]
    assert stderr.getvalue() == "WARNING early warning\n"


async def test_log_records_from_worker_threads_go_through_the_event_loop():
    loop_thread = threading.get_ident()
    threads: list[int] = []
    server = FakeServer()
    server.window_log_message = lambda params: threads.append(threading.get_ident())
    handler, _, logger = _handler()
    handler.connect(server)
    await asyncio.to_thread(logger.info, "from a worker")
    await asyncio.sleep(0.05)
    assert threads == [loop_thread]


async def test_a_record_logged_while_sending_does_not_recurse():
    server = FakeServer()
    handler, stderr, logger = _handler()

    def broken_send(params):  # what pygls does when the write fails: log an error, no raise
        logger.error("Error sending data")

    server.window_log_message = broken_send
    handler.connect(server)
    logger.info("the line")
    assert stderr.getvalue() == "ERROR Error sending data\nINFO the line\n"


async def test_without_a_writer_the_log_goes_to_stderr():
    server = FakeServer()
    server.protocol.writer = None
    handler, stderr, logger = _handler()
    handler.connect(server)
    logger.info("no transport")
    assert server.logged == [] and stderr.getvalue() == "INFO no transport\n"


def test_held_records_go_to_stderr_when_no_client_ever_came():
    handler, stderr, logger = _handler()
    logger.info("started")
    assert stderr.getvalue() == ""
    handler.close()
    assert stderr.getvalue() == "INFO started\n"
