"""Drive a real `codefill lsp` process with pytest-lsp's client."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

CODEFILL = str(Path(sys.executable).with_name("codefill"))


def capabilities(*, inline: bool = True) -> types.ClientCapabilities:
    """An LSP 3.18 client: inline completion, incremental sync, pull configuration, and
    UTF-8 offered first (as Neovim does) to check the server still speaks UTF-16."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[
            types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True, workspace_folders=True, execute_command=types.ExecuteCommandClientCapabilities(),
            did_change_configuration=types.DidChangeConfigurationClientCapabilities()),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(),
            completion=types.CompletionClientCapabilities(),
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None),
        window=types.WindowClientCapabilities(),
    )


async def start_lsp(
    url: str, *args: str, init_options: Any = None, workspace: Path | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> LanguageClient:
    """A client connected to `codefill lsp --url URL ARGS`, initialized."""
    config = ClientServerConfig(server_command=[CODEFILL, "lsp", "--url", url, "--log-level", "debug", *args])
    client = await config.start()
    if configuration is not None:  # what the client answers to workspace/configuration
        client.set_configuration(dict(configuration))
    folders = [types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)] if workspace else None
    result = await client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), initialization_options=init_options, workspace_folders=folders,
        client_info=types.ClientInfo(name="pytest-lsp"),
    ))
    assert result.capabilities.inline_completion_provider is not None
    assert result.capabilities.position_encoding in (None, types.PositionEncodingKind.Utf16)
    return client


async def stop_lsp(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


def open_document(client: LanguageClient, path: Path, text: str | None = None, language_id: str = "python") -> str:
    if text is None:
        text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)))
    return uri


def type_text(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    """An incremental change: insert `text` at (line, character)."""
    at = types.Position(line=line, character=character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)]))


def apply_item(client: LanguageClient, uri: str, version: int, item: types.InlineCompletionItem) -> None:
    """What an editor does when the user accepts an inline item: replace its range with its text."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=item.range, text=item.insert_text)]))


def inline_params(uri: str, line: int, character: int, *, invoked: bool = True) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind))


async def inline(client: LanguageClient, uri: str, line: int, character: int, *,
                 invoked: bool = True) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character, invoked=invoked))
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


async def complete(client: LanguageClient, uri: str, line: int, character: int) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character),
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))
    if result is None:
        return []
    return list(result.items if isinstance(result, types.CompletionList) else result)


def source_file(tmp_path: Path, text: str, name: str = "calc.py") -> Path:
    """A file in the workspace folder `tmp_path/ws`."""
    path = tmp_path / "ws" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
