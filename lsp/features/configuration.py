"""Settings from the client: `initializationOptions`, `workspace/didChangeConfiguration`,
and `workspace/configuration` for clients that only answer when asked (pull model)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lsprotocol import types

from codefill.lsp.server import CodefillLanguageServer
from codefill.lsp.settings import SECTION

log = logging.getLogger(__name__)


def _section(value: Any) -> Any:
    """Our settings in a payload that may hold them flat or under "codefill"."""
    if isinstance(value, Mapping) and isinstance(value.get(SECTION), Mapping):
        return value[SECTION]
    return value


def apply_initialization_options(ls: CodefillLanguageServer, options: Any) -> None:
    if options in (None, {}):
        return
    ls.update_settings(_section(options), "initializationOptions")


async def pull(ls: CodefillLanguageServer) -> None:
    """Ask the client for the "codefill" section, where it can answer."""
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.configuration:
        return
    try:
        values = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
    except Exception as exc:  # noqa: BLE001 - a client that fails this keeps the settings we have
        log.warning("workspace/configuration failed: %s", exc)
        return
    if values and isinstance(values[0], Mapping) and values[0]:
        ls.update_settings(values[0], "workspace/configuration")


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: CodefillLanguageServer,
                                       params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, Mapping) and isinstance(settings.get(SECTION), Mapping):
            ls.update_settings(settings[SECTION], "didChangeConfiguration")
        else:
            # The pull model: the notification only says "something changed".
            await pull(ls)
