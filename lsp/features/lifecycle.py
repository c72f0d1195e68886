"""initialize / initialized / shutdown: where settings and workspace folders arrive."""

from __future__ import annotations

import logging

from lsprotocol import types

from codefill.lsp.features import configuration, workspace_folders
from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: CodefillLanguageServer, params: types.InitializeParams) -> None:
        client = params.client_info.name if params.client_info else "an unnamed client"
        log.info("initialize from %s", client)
        configuration.apply_initialization_options(ls, params.initialization_options)
        workspace_folders.set_from_initialize(ls, params)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodefillLanguageServer, params: types.InitializedParams) -> None:
        await configuration.pull(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CodefillLanguageServer, params: None) -> None:
        await ls.pipeline.aclose()
