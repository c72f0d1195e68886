"""Workspace folders: where the context engine looks for the files the code imports."""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.uris import to_fs_path

from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)


def _paths(uris: list[str]) -> list[str]:
    paths = []
    for uri in uris:
        path = to_fs_path(uri)
        if path:
            paths.append(path)
        else:
            log.warning("workspace folder %s is not a local folder; ignored", uri)
    return paths


def set_from_initialize(ls: CodefillLanguageServer, params: types.InitializeParams) -> None:
    if params.workspace_folders:
        uris = [f.uri for f in params.workspace_folders]
    elif params.root_uri:
        uris = [params.root_uri]
    elif params.root_path:
        ls.store.set_workspace_folders([params.root_path])
        return
    else:
        uris = []
    ls.store.set_workspace_folders(_paths(uris))
    log.info("workspace folders: %s", ls.store.workspace_folders or "none")


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_workspace_folders(ls: CodefillLanguageServer,
                                     params: types.DidChangeWorkspaceFoldersParams) -> None:
        # pygls has already applied the event to its own folder list.
        ls.store.set_workspace_folders(_paths([f.uri for f in ls.workspace.folders.values()]))
        log.info("workspace folders: %s", ls.store.workspace_folders or "none")
