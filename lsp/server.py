"""The pygls language server: the state the features share.

It knows no feature: codefill.lsp.app builds the server and registers them (see there).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator, Mapping
from importlib import metadata
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from codefill.lsp.editor_status import EditorStatus
from codefill.lsp.pipeline import CompletionPipeline
from codefill.lsp.settings import Settings
from codefill.lsp.telemetry import Telemetry

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("codefill")
    except metadata.PackageNotFoundError:
        return "0"


class _Utf16Protocol(LanguageServerProtocol):
    """Positions in UTF-16 code units, whatever the client prefers.

    pygls picks the client's first preferred encoding (Neovim lists UTF-8 first);
    the document store counts characters in UTF-16, the encoding every client must
    support, so the client's list is ignored and UTF-16 (the default) is announced.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        editor_log = getattr(self._server, "editor_log", None)
        if editor_log is not None:  # the client is here: the log goes to it (codefill.lsp.editor_log)
            editor_log.connect(self._server)
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        """pygls updates its own copy of the document first, and its position codec clamps a
        position past the end of a line by rewriting the params in place: to one character
        *before* the end when the line is the last one, and by pygls's own line split
        (which also breaks at form feed and U+2028), so the document store would apply
        another edit than the client made. pygls gets a copy of the params; and should its
        copy fail, the store (which does not use it) still gets the change."""
        theirs = copy.deepcopy(params)
        try:
            for change in theirs.content_changes:
                self.workspace.update_text_document(theirs.text_document, change)
        except Exception:  # noqa: BLE001 - pygls's copy is only the fallback for resyncs
            log.warning("pygls could not apply a change to %s", params.text_document.uri, exc_info=True)
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None


class CodefillLanguageServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            "codefill", _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=_Utf16Protocol,
        )
        from codefill.lsp.documents import DocumentStore

        self.settings = settings
        self.store = DocumentStore()
        self.telemetry = Telemetry(settings.data_dir, enabled=settings.telemetry)
        # Set by `codefill lsp` (codefill.lsp.startup): sends the log to the client once it is connected.
        self.editor_log: Any = None
        self.status = EditorStatus(self)
        self.pipeline = CompletionPipeline(self.store, settings, self.telemetry, status=self.status)

    def update_settings(self, overrides: Mapping[str, Any] | Any, source: str) -> None:
        """Merge `overrides` into the settings; refused keys are logged (here and in the
        client's log) and keep their old values."""
        new, problems = self.settings.merged(overrides)
        for problem in problems:
            self.warn_client(f"codefill: {source}: {problem}")
        if new != self.settings:
            self.settings = new
            self.pipeline.configure(new)
            log.info("settings from %s: %s", source, new.redacted())

    def warn_client(self, message: str) -> None:
        log.warning("%s", message)
        if self.editor_log is not None and self.editor_log.connected and log.isEnabledFor(logging.WARNING):
            return  # the log line reaches the client's log as it is
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=message))
        except Exception:  # noqa: BLE001 - no client connected (unit use): the log line suffices
            pass

