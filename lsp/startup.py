"""`codefill lsp` once its settings are known: the log (a file, the editor), then the server over stdio or TCP."""

from __future__ import annotations

import logging

from codefill.lsp.settings import Settings

log = logging.getLogger("codefill.lsp")


def _parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--tcp wants HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def start(settings: Settings, tcp: str | None = None, log_file: str | None = None) -> int:
    """Serve until the editor hangs up: over stdio, or on TCP `HOST:PORT` (debugging); the whole log also to
    `log_file` when given."""
    from codefill.lsp import editor_log

    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(editor_log.FORMAT))
        logging.getLogger().addHandler(handler)
    # pygls and httpx log every message and request at INFO (httpcore each socket step at
    # DEBUG); the editor's log wants ours, not the wire.
    for noisy in ("pygls", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # Editors record a server's stderr as errors: once the client is connected, the log
    # goes to it as window/logMessage at each line's level (over TCP, stderr is a terminal
    # and gets what comes before the client).
    to_editor = editor_log.install(hold_early=not tcp)

    from codefill.lsp.app import build_server

    server = build_server(settings)
    server.editor_log = to_editor
    log.info("codefill lsp %s, completions from %s", server.version, settings.url)
    if tcp:
        host, port = _parse_tcp(tcp)
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0
