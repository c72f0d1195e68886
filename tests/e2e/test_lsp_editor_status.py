"""`codefill lsp` tells the editor what is wrong and what it is doing (codefill.lsp.editor_status,
codefill.lsp.editor_log), checked from a pytest-lsp client:

- an unreachable server or a refused key: one `window/showMessage`, not one per request,
  again only after a success;
- the log arrives as `window/logMessage` at its level, not on stderr (which Neovim
  records as errors); `--log-file` still gets all of it;
- `$/progress` around model requests, where the client advertises it: create, begin,
  end; none for a cache hit or a skipped request, none without the capability."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.checks import LspSpecificationWarning

from tests.e2e.lsp_session import CODEFILL, capabilities, inline, open_document, stop_lsp, type_text, wait_until
from tests.e2e.lsp_session import source_file as session_source_file
from tests.e2e.servers import free_port
from tests.lsp_fakes import FimFake

ANSWER = "return a + b"
SOURCE = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
BODY_LINE, BODY_COL = 1, 4


@pytest.fixture
def fim(fake_server: FimFake) -> FimFake:
    fake_server.reset(text=ANSWER)
    return fake_server


@contextlib.asynccontextmanager
async def lsp(url: str, tmp_path: Path, *args: str, progress: bool = False, init_options=None):
    """A session at the default log level, with the server's stderr kept in tmp_path/stderr.txt."""
    stderr = tmp_path / "stderr.txt"
    command = [CODEFILL, "lsp", "--url", url, "--data-dir", str(tmp_path / "data"), "--debounce-ms", "0",
               "--log-file", str(tmp_path / "lsp.log"), *args]
    config = ClientServerConfig(server_command=["sh", "-c", 'exec "$@" 2>"$0"', str(stderr), *command])
    client = await config.start()
    caps = capabilities()
    caps.window = types.WindowClientCapabilities(work_done_progress=progress or None)
    await client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options=init_options, client_info=types.ClientInfo(name="pytest-lsp")))
    try:
        yield client
    finally:
        await stop_lsp(client)


def source_file(tmp_path: Path, text: str = SOURCE) -> Path:
    return session_source_file(tmp_path, text)


def set_url(client: LanguageClient, url: str) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"codefill": {"url": url}}))


async def wait_for_settings(client: LanguageClient, n: int) -> None:
    await wait_until(lambda: sum("settings from didChangeConfiguration" in m.message for m in client.log_messages) >= n,
                     what=f"settings change {n}")


async def test_an_unreachable_server_is_shown_once(fim, tmp_path):
    path = source_file(tmp_path)
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with lsp(nowhere, tmp_path, "--model", "m") as client:
        uri = open_document(client, path)
        for _ in range(4):
            assert await inline(client, uri, BODY_LINE, BODY_COL) == []
        await asyncio.sleep(0.2)
        assert len(client.messages) == 1
        [message] = client.messages
        assert message.type == types.MessageType.Error
        assert nowhere in message.message and "`url`" in message.message and "--url" in message.message
        # Fixed: completions work and nothing more is shown.
        set_url(client, fim.url)
        await wait_for_settings(client, 1)
        assert (await inline(client, uri, BODY_LINE, BODY_COL))[0].insert_text == "    " + ANSWER
        # Broken again after the success: told again, once.
        set_url(client, nowhere)
        await wait_for_settings(client, 2)
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "x")  # not the cached context
        for _ in range(3):
            assert await inline(client, uri, BODY_LINE, BODY_COL + 1) == []
        await asyncio.sleep(0.2)
        assert len(client.messages) == 2


async def test_a_refused_key_is_shown_once_and_again_after_a_success(fim, tmp_path):
    path = source_file(tmp_path)
    fim.status = 401
    async with lsp(fim.url, tmp_path, "--model", "m", "--api-key", "wrong") as client:
        uri = open_document(client, path)
        for _ in range(3):
            assert await inline(client, uri, BODY_LINE, BODY_COL) == []
        await asyncio.sleep(0.2)
        [message] = client.messages
        assert message.type == types.MessageType.Error
        assert "API key" in message.message and "`apiKey`" in message.message and "--api-key" in message.message
        assert fim.url in message.message and "wrong" not in message.message
        fim.status = 200
        assert await inline(client, uri, BODY_LINE, BODY_COL)
        fim.status = 403
        type_text(client, uri, 2, BODY_LINE, BODY_COL, "x")  # not the cached context
        for _ in range(3):
            assert await inline(client, uri, BODY_LINE, BODY_COL + 1) == []
        await asyncio.sleep(0.2)
    assert len(client.messages) == 2 and "HTTP 403" in client.messages[1].message


async def test_timeouts_are_logged_and_told_once_per_streak(fim, tmp_path):
    path = source_file(tmp_path)
    fim.first_chunk_delay_s = 30
    async with lsp(fim.url, tmp_path, "--model", "m", init_options={"timeoutMs": 200}) as client:
        uri = open_document(client, path)
        for _ in range(2):
            assert await inline(client, uri, BODY_LINE, BODY_COL) == []
        await asyncio.sleep(0.1)
        assert client.messages == []  # a busy server now and then: only the log
        for _ in range(3):
            assert await inline(client, uri, BODY_LINE, BODY_COL) == []
        await asyncio.sleep(0.2)
        warnings_logged = [m for m in client.log_messages
                           if m.type == types.MessageType.Warning and "within 200 ms" in m.message]
    [message] = client.messages
    assert message.type == types.MessageType.Warning and "timeoutMs" in message.message
    assert len(warnings_logged) == 5


async def test_the_log_reaches_the_editor_at_its_level_not_stderr(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim.url, tmp_path, init_options={"noSuchSetting": 1}) as client:
        uri = open_document(client, path)
        await inline(client, uri, BODY_LINE, BODY_COL)
        await asyncio.sleep(0.2)
        logged = [(m.type, m.message) for m in client.log_messages]
    infos = [text for kind, text in logged if kind == types.MessageType.Info]
    assert any(f"completions from {fim.url}" in text for text in infos), logged  # logged before initialize
    assert any("initialize from pytest-lsp" in text for text in infos), logged
    assert any("completion at calc.py:2:5 from model" in text for text in infos), logged
    unknown = [text for kind, text in logged if "noSuchSetting" in text]
    assert len(unknown) == 1 and (types.MessageType.Warning, unknown[0]) in logged  # once, as a warning
    assert not any(kind == types.MessageType.Log for kind, _ in logged)  # debug is below --log-level info
    stderr = (tmp_path / "stderr.txt").read_text()
    assert " INFO " not in stderr and "completion at" not in stderr and "noSuchSetting" not in stderr, stderr
    log_file = (tmp_path / "lsp.log").read_text()
    assert " INFO " in log_file and "completion at calc.py:2:5" in log_file and "noSuchSetting" in log_file


async def test_debug_lines_arrive_as_log_messages(fim, tmp_path):
    path = source_file(tmp_path)
    async with lsp(fim.url, tmp_path, "--log-level", "debug") as client:
        uri = open_document(client, path)
        await inline(client, uri, BODY_LINE, BODY_COL)
        await wait_until(lambda: any("model answered in" in m.message for m in client.log_messages),
                         what="the debug line")
    [debug] = [m for m in client.log_messages if "model answered in" in m.message]
    assert debug.type == types.MessageType.Log
    # pygls's own loggers stay quiet at debug: none of the wire reaches the editor.
    assert not any(m.message.startswith("pygls") for m in client.log_messages)
    assert " DEBUG " not in (tmp_path / "stderr.txt").read_text()


def progress_of(client: LanguageClient) -> dict[str, list[str]]:
    return {token: [value.kind for value in values] for token, values in client.progress_reports.items()}


def all_ended(client: LanguageClient, n: int) -> bool:
    kinds = progress_of(client)
    return len(kinds) == n and all(k[-1:] == ["end"] for k in kinds.values())


async def test_progress_around_model_requests_only(fim, tmp_path):
    path = source_file(tmp_path, SOURCE + "total = compute(values)\n")
    fim.first_chunk_delay_s = 0.3  # pending long enough for the client's answer to `create`
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with lsp(fim.url, tmp_path, progress=True) as client:
            uri = open_document(client, path)
            first = await inline(client, uri, BODY_LINE, BODY_COL)
            await wait_until(lambda: all_ended(client, 1), what="the progress to end")
            assert list(progress_of(client).values()) == [["begin", "end"]]
            cached = await inline(client, uri, BODY_LINE, BODY_COL)  # a cache hit: no progress
            skipped = await inline(client, uri, 4, 8, invoked=False)  # code right of the cursor: no request
            # A slow request superseded by a newer keystroke: its progress ends too.
            fim.text, fim.chunk_delay_s, fim.first_chunk_delay_s = ANSWER * 50, 0.05, 0.0
            type_text(client, uri, 2, BODY_LINE, BODY_COL, "x")  # not the cached context
            slow = asyncio.ensure_future(inline(client, uri, BODY_LINE, BODY_COL + 1, invoked=False))
            await wait_until(lambda: len(fim.requests) == 2 and fim.requests[1].sent, what="the slow request")
            type_text(client, uri, 3, BODY_LINE, BODY_COL + 1, "y")
            fim.text, fim.chunk_delay_s = ANSWER, 0.0
            newer = await inline(client, uri, BODY_LINE, BODY_COL + 2, invoked=False)
            assert await slow == []
            await wait_until(lambda: all_ended(client, 3), what="every progress to end")
            ends = [values[-1].message for values in client.progress_reports.values()]
    assert first and cached and skipped == [] and newer
    assert len(fim.requests) == 3
    assert all(kinds in (["begin", "end"], ["end"]) for kinds in progress_of(client).values()), progress_of(client)
    assert "cancelled" in ends
    assert not [w for w in caught if issubclass(w.category, LspSpecificationWarning)], [str(w.message) for w in caught]


async def test_no_progress_without_the_capability(fim, tmp_path):
    path = source_file(tmp_path)
    fim.first_chunk_delay_s = 0.3
    async with lsp(fim.url, tmp_path, progress=False) as client:
        uri = open_document(client, path)
        assert await inline(client, uri, BODY_LINE, BODY_COL)
        await asyncio.sleep(0.1)
    assert client.progress_reports == {}
    assert len(fim.requests) == 1
