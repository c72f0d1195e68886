"""A minimal language-server client: JSON-RPC 2.0 over a subprocess's stdio.

Just what driving a server like an editor needs: requests with futures, notifications,
`$/cancelRequest`, and polite answers to what a server asks of its client
(`workspace/configuration`, capability registration, progress tokens), which a
server may wait on before it answers anything else. Messages the server sends to
be shown (`window/showMessage`, `window/logMessage`) are kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

REQUEST_CANCELLED = -32800
STOP_TIMEOUT_S = 5.0


class LspError(RuntimeError):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)} (code {error.get('code')})")
        self.code = error.get("code")


class LspClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future]] = {}
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.messages: list[dict[str, Any]] = []  # showMessage / logMessage of warning level or worse
        self._reader = asyncio.create_task(self._read_loop(), name="lsp-client-reader")
        self._writer = asyncio.create_task(self._write_loop(), name="lsp-client-writer")

    @classmethod
    async def start(cls, command: Sequence[str], *, stderr: Any = asyncio.subprocess.DEVNULL,
                    env: dict[str, str] | None = None) -> LspClient:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env,
            limit=16 * 1024 * 1024)
        return cls(proc)

    def request_nowait(self, method: str, params: Any) -> tuple[int, asyncio.Future]:
        """Send a request; (its id, a future of its result)."""
        request_id = next(self._ids)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (method, future)
        self._outbox.put_nowait({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id, future

    async def request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        _, future = self.request_nowait(method, params)
        return await asyncio.wait_for(future, timeout)

    def notify(self, method: str, params: Any) -> None:
        self._outbox.put_nowait({"jsonrpc": "2.0", "method": method, "params": params})

    def cancel(self, request_id: int) -> None:
        self.notify("$/cancelRequest", {"id": request_id})

    async def flush(self) -> None:
        """Until everything sent so far is written to the server."""
        await self._outbox.join()

    async def _write_loop(self) -> None:
        # One writer, fed by a queue: messages leave in the order they were made (a
        # didChange before the request that depends on it) and callers never wait on a pipe.
        stdin = self.proc.stdin
        assert stdin is not None
        while True:
            message = await self._outbox.get()
            try:
                body = json.dumps(message, ensure_ascii=False).encode("utf-8")
                stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await stdin.drain()
            except (ConnectionError, RuntimeError):
                pass  # the server is gone; the reader fails whoever waits
            finally:
                self._outbox.task_done()

    async def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        error: BaseException = ConnectionError("the language server closed its output")
        try:
            while True:
                length = None
                while True:
                    line = await stdout.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    continue
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - every waiter learns of it below
            log.exception("reading from the language server failed")
            error = exc
        finally:
            for method, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{method}: the language server went away ({error})"))
            self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self._outbox.put_nowait({"jsonrpc": "2.0", "id": message["id"], "result": _client_answer(message)})
        elif "method" in message:
            if message["method"] in ("window/showMessage", "window/logMessage"):
                params = message.get("params") or {}
                if params.get("type", 4) <= 2:  # errors and warnings
                    self.messages.append({"method": message["method"], **params})
        elif "id" in message:
            method, future = self._pending.pop(message["id"], ("", None))
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(LspError(method, message["error"]))
            else:
                future.set_result(message.get("result"))

    async def stop(self) -> int | None:
        """shutdown and exit, as an editor closing does; kills a server that does not go."""
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout=STOP_TIMEOUT_S)
                self.notify("exit", None)
                await asyncio.wait_for(self.flush(), STOP_TIMEOUT_S)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for task in (self._reader, self._writer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return self.proc.returncode


def _client_answer(request: dict[str, Any]) -> Any:
    if request["method"] == "workspace/configuration":
        items = (request.get("params") or {}).get("items") or []
        return [None for _ in items]  # nothing set: the server keeps its command-line settings
    return None  # registerCapability, workDoneProgress/create, showMessageRequest: acknowledged
