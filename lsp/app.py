"""The language server with its features: the one module that knows both.

Imports go one way: features import the server class (codefill.lsp.server) and each other,
this module imports both; codefill.lsp.server imports no feature, so a feature module can be
imported (and tested) on its own.
"""

from __future__ import annotations

from codefill.lsp.features import (
    completion,
    configuration,
    document_sync,
    inline_completion,
    inline_edit,
    lifecycle,
    next_edit,
    telemetry_commands,
    workspace_folders,
)
from codefill.lsp.server import CodefillLanguageServer
from codefill.lsp.settings import Settings

FEATURES = (
    lifecycle,
    configuration,
    workspace_folders,
    document_sync,
    inline_completion,
    completion,
    next_edit,
    inline_edit,
    telemetry_commands,
)


def build_server(settings: Settings) -> CodefillLanguageServer:
    server = CodefillLanguageServer(settings)
    for feature in FEATURES:
        feature.register(server)
    return server
