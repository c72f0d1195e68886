"""Our log in the editor's log: `window/logMessage`, at each record's own level.

Editors keep a language server's stderr as errors (Neovim writes every stderr line as
`[ERROR]` in its LSP log), so once the client has sent `initialize` the log goes to it
as `window/logMessage`: Error (error and critical), Warning, Info, and Log for debug.
The level filter (`--log-level`) applies as before: it is the root logger's level, and
this is one of the root's handlers (`--log-file`'s handler beside it gets everything).

Stderr (the `fallback` handler) keeps only what cannot go to the client:

* warnings and errors from before `initialize` (a start that fails must be seen); over
  stdio the few lower records of that time are held and sent once the client is there
  (or written to stderr at exit if no client ever came); over TCP, where stderr is a
  terminal and not the editor's log, they go to stderr at once;
* a record that could not be sent (no writer, a closed pipe or socket, a failed write);
* records emitted while a log message is being sent (pygls reporting a failed write,
  say): they are not sent, so sending never recurses.

`emit` runs on whatever thread logs (the context is built in a worker thread); pygls's
writer belongs to the event loop's thread, so records from other threads are handed
to the loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import deque
from typing import Any

from lsprotocol import types

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # stderr and --log-file
EDITOR_FORMAT = "%(name)s: %(message)s"  # the editor adds its own time and level
EARLY_MAX = 200  # records below warning held from before `initialize`


def message_type(levelno: int) -> types.MessageType:
    if levelno >= logging.ERROR:
        return types.MessageType.Error
    if levelno >= logging.WARNING:
        return types.MessageType.Warning
    if levelno >= logging.INFO:
        return types.MessageType.Info
    return types.MessageType.Log


class EditorLogHandler(logging.Handler):
    def __init__(self, fallback: logging.Handler, *, hold_early: bool = True) -> None:
        super().__init__()
        self.fallback = fallback
        self.hold_early = hold_early
        self.setFormatter(logging.Formatter(EDITOR_FORMAT))
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._early: deque[logging.LogRecord] = deque(maxlen=EARLY_MAX)
        self._local = threading.local()  # .sending, .failed: this thread is sending a record

    @property
    def connected(self) -> bool:
        return self._server is not None

    def connect(self, server: Any) -> None:
        """The client sent `initialize`: from now on the log goes to it. Called on the
        event loop's thread (the handler of `initialize`); sends the held records."""
        with self.lock:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (not how pygls calls it): other threads' records go to stderr
                self._loop = None
            self._loop_thread = threading.get_ident()
            self._server = server
            early, self._early = list(self._early), deque(maxlen=EARLY_MAX)
            for record in early:
                self._send(record, self._format(record))

    def emit(self, record: logging.LogRecord) -> None:
        local = self._local
        if getattr(local, "sending", False):
            # Logged while this thread sends a log message (pygls on a failed write):
            # to stderr, never sent, so sending cannot recurse.
            if record.levelno >= logging.ERROR:
                local.failed = True
            self.fallback.handle(record)
            return
        if self._server is None:
            if record.levelno >= logging.WARNING or not self.hold_early:
                self.fallback.handle(record)
            else:
                self._early.append(record)
            return
        text = self._format(record)
        if text is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._send(record, text)
            return
        loop = self._loop
        try:
            if loop is None or loop.is_closed():
                raise RuntimeError("no event loop")
            loop.call_soon_threadsafe(self._send, record, text)
        except RuntimeError:  # the loop is gone (the server is stopping)
            self.fallback.handle(record)

    def _format(self, record: logging.LogRecord) -> str | None:
        try:
            return self.format(record)
        except Exception:  # noqa: BLE001 - a bad log call must not break the caller
            self.handleError(record)
            return None

    def _send(self, record: logging.LogRecord, text: str | None) -> None:
        """On the event loop's thread: the record as `window/logMessage`, else to stderr."""
        if text is None:
            return
        server = self._server
        if server is None or not _can_send(server):
            self.fallback.handle(record)
            return
        local = self._local
        local.sending, local.failed = True, False
        try:
            server.window_log_message(types.LogMessageParams(type=message_type(record.levelno), message=text))
        except Exception:  # noqa: BLE001 - a broken pipe, say: stderr gets the record
            local.failed = True
        finally:
            local.sending = False
        if local.failed:
            self.fallback.handle(record)

    def close(self) -> None:
        """At exit (logging.shutdown): records held for a client that never came go to stderr."""
        with self.lock:
            early, self._early = list(self._early), deque(maxlen=EARLY_MAX)
        for record in early:
            self.fallback.handle(record)
        self.fallback.flush()
        super().close()


def _can_send(server: Any) -> bool:
    """Whether pygls has a writer that is still open: stdout (stdio) or a socket (TCP)."""
    writer = getattr(getattr(server, "protocol", None), "writer", None)
    if writer is None:
        return False
    stream = getattr(writer, "_stdout", None)  # pygls's StdoutWriter
    if stream is not None and getattr(stream, "closed", False):
        return False
    is_closing = getattr(writer, "is_closing", None)  # asyncio.StreamWriter
    return not (callable(is_closing) and is_closing())


def install(root: logging.Logger | None = None, *, hold_early: bool = True) -> EditorLogHandler:
    """Put an EditorLogHandler on the root logger in place of its stderr handlers (what
    logging.basicConfig set up), which become its fallback; other handlers (--log-file)
    stay as they are."""
    root = root or logging.getLogger()
    to_stderr = [h for h in root.handlers
                 if type(h) is logging.StreamHandler and h.stream in (sys.stderr, sys.__stderr__)]
    for handler in to_stderr:
        root.removeHandler(handler)
    if to_stderr:
        fallback = to_stderr[0]
    else:
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(logging.Formatter(FORMAT))
    handler = EditorLogHandler(fallback, hold_early=hold_early)
    root.addHandler(handler)
    return handler
