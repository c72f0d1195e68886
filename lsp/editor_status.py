"""What the editor shows of the completion server's state.

* `window/showMessage`, once, when the completion server cannot be reached (a wrong
  `url`, a server that is not running) or refuses the API key (401/403): every keystroke
  fails the same way, and the log alone is easy to miss. Shown again only when the
  situation changed: after a success, a failure of another kind, another `url` or key.
  Timeouts and other failures (a busy server, a 500) are told once per streak of
  FAILURE_STREAK in a row, as a warning; a single one is only logged.
* `$/progress` while a model request is pending, where the client advertises
  `window.workDoneProgress`: server-initiated work done progress (`create`, then
  `begin` and `end`) around the request only (cache hits and skipped requests show
  none), ended however the request ends (an answer, a failure, a cancellation or a
  newer keystroke), never left open.

The pipeline calls `pending(uri)` (an async context manager) around the model request,
then `failed(exc)` or `succeeded()`. Without a server (unit use) all of it is a no-op.
Everything here runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from lsprotocol import types

log = logging.getLogger(__name__)

FAILURE_STREAK = 3  # timeouts (or other errors) in a row before the user is told
MAX_UNANSWERED_CREATES = 8  # a client that does not answer `create` gets no more progress


class EditorStatus:
    def __init__(self, server: Any = None) -> None:
        self._server = server
        self._shown: tuple[Any, ...] | None = None  # what the message shown for this failure streak was about
        self._streak_kind: str | None = None
        self._streak = 0
        self._tokens = itertools.count(1)
        self._token_prefix = f"codefill-{os.getpid()}"
        self.unanswered_creates = 0

    # --- progress ---

    def progress_supported(self) -> bool:
        if self._server is None or self.unanswered_creates >= MAX_UNANSWERED_CREATES:
            return False
        try:
            capabilities = self._server.client_capabilities
        except Exception:  # noqa: BLE001 - before initialize, pygls has none
            return False
        window = getattr(capabilities, "window", None)
        return bool(window is not None and window.work_done_progress)

    @contextlib.asynccontextmanager
    async def pending(self, uri: str) -> AsyncIterator[None]:
        """Work done progress around a model request, where the client shows it. The
        `create` request is sent, not waited for: the HTTP request goes at once."""
        progress = None
        if self.progress_supported():
            progress = _Progress(self, f"{self._token_prefix}-{next(self._tokens)}",
                                 types.WorkDoneProgressBegin(title="codefill", cancellable=False,
                                                             message=f"completing {_short(uri)}"))
        outcome = "cancelled"
        try:
            yield
            outcome = "done"
        except asyncio.CancelledError:
            raise
        except BaseException:
            outcome = "no completion"
            raise
        finally:
            if progress is not None:
                progress.finish(outcome)

    # --- messages ---

    def succeeded(self) -> None:
        if self._shown is not None:
            log.info("the completion server answers again")
        self._shown, self._streak_kind, self._streak = None, None, 0

    def failed(self, exc: Exception) -> None:
        kind = getattr(exc, "kind", "error")
        url = getattr(exc, "url", None) or self._setting("url")
        if kind == self._streak_kind:
            self._streak += 1
        else:
            self._streak_kind, self._streak = kind, 1
        about = (kind, url, self._setting("api_key"))
        if about == self._shown:
            return
        if kind in ("unreachable", "refused"):
            self._show(types.MessageType.Error, self._message(kind, url, exc))
        elif self._streak >= FAILURE_STREAK:
            self._show(types.MessageType.Warning, self._message(kind, url, exc))
        else:
            return
        self._shown = about

    def _message(self, kind: str, url: str | None, exc: Exception) -> str:
        where = f"the completion server at {url}" if url else "the completion server"
        if kind == "unreachable":
            cause = exc.__cause__
            detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            return (f"codefill: cannot reach {where}{detail}. Start the server (`codefill serve`), or set "
                    "the `url` setting (`--url` of `codefill lsp`) to where it runs. "
                    "No completions until it answers.")
        if kind == "refused":
            status = getattr(exc, "status", None)
            answer = f"HTTP {status}" if status else "refused"
            if self._setting("api_key"):
                problem = f"{where} refused the API key ({answer})"
            else:
                problem = f"{where} wants an API key ({answer}), and none is set"
            return (f"codefill: {problem}. Set the `apiKey` setting (`--api-key` or CODEFILL_API_KEY for "
                    "`codefill lsp`) to a key the server accepts. No completions until then.")
        if kind == "timeout":
            return (f"codefill: {exc}, {self._streak} times in a row: the server may be busy or the model "
                    "slow. Raise the `timeoutMs` setting (`--timeout-ms`), or check the server.")
        return (f"codefill: completions keep failing ({self._streak} in a row): {exc}. "
                "The editor's LSP log has each failure.")

    def _show(self, level: types.MessageType, message: str) -> None:
        log.info("telling the user: %s", message)
        if self._server is None:
            return
        try:
            self._server.window_show_message(types.ShowMessageParams(type=level, message=message))
        except Exception:  # noqa: BLE001 - no client connected: the log has it
            log.debug("could not show the message", exc_info=True)

    def _setting(self, name: str) -> Any:
        return getattr(getattr(self._server, "settings", None), name, None)

    # --- sending, for _Progress ---

    def _request(self, method: str, params: Any) -> Future[Any]:
        return self._server.protocol.send_request(method, params)

    def _notify(self, token: str, value: Any) -> None:
        try:
            self._server.progress(types.ProgressParams(token=token, value=value))
        except Exception:  # noqa: BLE001 - progress is decoration; never fail a completion for it
            log.debug("could not send progress", exc_info=True)


class _Progress:
    """One server-initiated work done progress. `begin` only once the client has
    answered `create` (the spec: and nothing if it answered with an error); `end` when
    the work is over, or, when it was over before the answer came, right after the
    answer: no client is left with an open progress."""

    def __init__(self, status: EditorStatus, token: str, begin: types.WorkDoneProgressBegin) -> None:
        self._status = status
        self.token = token
        self._begin = begin
        self._end = types.WorkDoneProgressEnd()
        self.state = "creating"  # -> begun -> ended; creating -> finishing (over before the answer) -> ended
        try:
            future = status._request(types.WINDOW_WORK_DONE_PROGRESS_CREATE,
                                     types.WorkDoneProgressCreateParams(token=token))
        except Exception:  # noqa: BLE001 - no client: no progress
            log.debug("could not create a progress", exc_info=True)
            self.state = "refused"
            return
        status.unanswered_creates += 1
        future.add_done_callback(self._created)

    def _created(self, future: Future[Any]) -> None:
        """The client answered `create` (pygls resolves the future on the loop's thread)."""
        self._status.unanswered_creates -= 1
        if future.cancelled() or future.exception() is not None:
            log.debug("the client refused progress %s", self.token)
            self.state = "refused"
            return
        if self.state == "creating":
            self.state = "begun"
            self._status._notify(self.token, self._begin)
        elif self.state == "finishing":
            self.state = "ended"
            self._status._notify(self.token, self._end)

    def finish(self, message: str) -> None:
        self._end = types.WorkDoneProgressEnd(message=message)
        if self.state == "begun":
            self.state = "ended"
            self._status._notify(self.token, self._end)
        elif self.state == "creating":
            self.state = "finishing"


def _short(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]
