"""Connection limits (server/connections.py) on a real uvicorn server in this process, with a
small ASGI app, for both of uvicorn's HTTP protocols (httptools, the default, and h11).

Raw sockets play the clients: slowloris (the request head at 1 byte/s), a stalled body
(Content-Length 8 MiB, 15 bytes sent), a connection that sends nothing, and more open
connections from one address than the cap. Each must be dropped after its timeout, with
a 408/429 in OpenAI's error shape where an answer is possible, counted in the metrics,
while ordinary keep-alive requests are served as before.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn

from codefill.server.connections import ConnectionLimits, guarded_protocol
from codefill.server.metrics import Metrics

LIMITS = ConnectionLimits(header_timeout_s=1.0, body_timeout_s=1.0, keep_alive_s=30.0, max_per_client=6)
PROTOCOLS = ["httptools", "h11"]


def _base(name: str):
    if name == "httptools":
        pytest.importorskip("httptools")
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


class App:
    """Reads the whole body, answers its length; counts requests in flight like the server's
    middleware does, and whether each saw a disconnect."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.disconnects = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.in_flight += 1
        try:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.disconnects += 1
                    return
                size += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = json.dumps({"size": size}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.in_flight -= 1


class Server:
    def __init__(self, protocol: str, limits: ConnectionLimits = LIMITS) -> None:
        self.app = App()
        self.metrics = Metrics()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                http=guarded_protocol(limits, self.metrics, base=_base(protocol)),
                                timeout_keep_alive=limits.keep_alive_s, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def dropped(self, reason: str) -> float:
        return self.metrics.connections_dropped.labels(reason)._value.get()

    def open_connections(self) -> float:
        return self.metrics.open_connections._value.get()

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(params=PROTOCOLS)
def server(request):
    s = Server(request.param)
    yield s
    s.stop()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - t0


def status_and_error(data: bytes) -> tuple[int, dict]:
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


def request(server: Server, sock: socket.socket, body: bytes = b"{}") -> dict:
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data
    return json.loads(data.partition(b"\r\n\r\n")[2])


def test_slowloris_headers_are_dropped_after_the_header_timeout(server):
    sockets = [server.connect() for _ in range(4)]
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100
    t0 = time.monotonic()
    closed_after: dict[int, float] = {}
    for tick in range(8):  # one byte a second, for up to 8 s
        for i, s in enumerate(sockets):
            if i in closed_after:
                continue
            try:
                s.sendall(head[tick:tick + 1])
            except OSError:
                closed_after[i] = time.monotonic() - t0
        time.sleep(0.25)
        for i, s in enumerate(sockets):
            if i not in closed_after:
                s.settimeout(0.01)
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    data = b""
                closed_after[i] = time.monotonic() - t0
                if data:
                    status, err = status_and_error(data)
                    assert status == 408 and "--header-timeout" in err["message"], data
        if len(closed_after) == len(sockets):
            break
    assert len(closed_after) == len(sockets), "slowloris connections must be dropped"
    assert all(0.9 <= t <= 3.0 for t in closed_after.values()), closed_after
    assert server.dropped("header_timeout") == 4
    for s in sockets:
        s.close()


def test_a_connection_that_sends_nothing_is_dropped(server):
    s = server.connect()
    data, after = read_until_closed(s, timeout=5)
    assert 0.9 <= after <= 3.0 and status_and_error(data)[0] == 408
    assert server.dropped("header_timeout") == 1


def test_a_stalled_body_is_dropped_and_its_request_let_go(server):
    sockets = [server.connect() for _ in range(4)]
    for s in sockets:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  b'{"model": "x", ' % (8 * 1024 * 1024))
    time.sleep(0.3)
    assert server.app.in_flight == 4  # the app waits for their bodies
    results = [read_until_closed(s, timeout=5) for s in sockets]
    for data, after in results:
        status, err = status_and_error(data)
        assert status == 408 and "--body-timeout" in err["message"]
    deadline = time.monotonic() + 3
    while server.app.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.app.in_flight == 0 and server.app.disconnects == 4
    assert server.dropped("body_timeout") == 4
    for s in sockets:
        s.close()


def test_a_slow_body_is_dropped_too(server):
    s = server.connect()
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    t0 = time.monotonic()
    try:
        for _ in range(6):
            s.sendall(b"x")
            time.sleep(0.4)
    except OSError:
        pass
    data, _ = read_until_closed(s, timeout=5)
    assert time.monotonic() - t0 <= 4.0
    assert server.dropped("body_timeout") == 1


def _stall_in_callback(server: Server, seconds: float) -> None:
    """Block the server's loop from an ordinary callback (where coroutine steps run)."""
    server.app.loop.call_soon_threadsafe(time.sleep, seconds)


def _stall_in_io(server: Server, seconds: float) -> None:
    """Block the server's loop from an I/O callback, as a busy server's reads and writes do:
    the loop's next step after I/O callbacks is its timers, before it reads again."""
    loop = server.app.loop
    a, b = socket.socketpair()

    def readable() -> None:
        loop.remove_reader(a.fileno())
        time.sleep(seconds)
        a.close()

    loop.call_soon_threadsafe(loop.add_reader, a.fileno(), readable)
    time.sleep(0.1)
    b.send(b"x")
    b.close()


@pytest.mark.parametrize("stall", [_stall_in_callback, _stall_in_io])
def test_a_server_that_stalls_does_not_drop_a_request_that_came_in_time(server, stall):
    # The server, not the client, is slow here: its loop is blocked (as on a loaded 2-core
    # machine: the CI soak's ReadErrors) past the timeouts while a whole request waits unread
    # in the socket. A timer that only counts seconds would blame the client.
    s = server.connect()
    time.sleep(0.2)  # accepted: the head's clock runs
    stall(server, LIMITS.header_timeout_s + 0.8)
    time.sleep(0.3)  # the request arrives while the loop is blocked
    assert request(server, s) == {"size": 2}
    t = server.connect()
    t.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    time.sleep(0.2)  # the head was read: the body's clock runs
    stall(server, LIMITS.body_timeout_s + 0.8)
    time.sleep(0.3)
    t.sendall(b"0123456789")
    t.settimeout(10)
    assert t.recv(65536).startswith(b"HTTP/1.1 200")
    assert server.dropped("header_timeout") == 0 and server.dropped("body_timeout") == 0
    s.close()
    t.close()


def test_keep_alive_requests_are_served_as_usual(server):
    s = server.connect()
    for i in range(3):
        assert request(server, s, b'{"n": %d}' % i) == {"size": 8}
        time.sleep(1.3)  # idle between requests: longer than the header timeout, shorter than keep-alive
    assert request(server, s, b"x" * 100_000) == {"size": 100_000}
    assert server.dropped("header_timeout") == 0 and server.dropped("body_timeout") == 0
    s.close()


def test_open_connections_per_client_are_capped(server):
    held = [server.connect() for _ in range(LIMITS.max_per_client)]
    for s in held:
        assert request(server, s) == {"size": 2}
    extra = server.connect()
    data, _ = read_until_closed(extra, timeout=5)
    status, err = status_and_error(data)
    assert status == 429 and "--max-connections-per-client" in err["message"]
    assert server.dropped("too_many_connections") == 1
    assert server.open_connections() == LIMITS.max_per_client
    # A client that sends its request at once (as every HTTP client does) reads the 429 too,
    # not a connection reset: the server reads what was sent before it closes.
    eager = server.connect()
    eager.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    data, _ = read_until_closed(eager, timeout=5)
    assert data.startswith(b"HTTP/1.1 429"), data
    assert server.dropped("too_many_connections") == 2
    eager.close()
    held.pop().close()
    time.sleep(0.2)
    again = server.connect()
    assert request(server, again) == {"size": 2}  # a freed slot is free again
    for s in [*held, again, extra]:
        s.close()
    deadline = time.monotonic() + 3
    while server.open_connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.open_connections() == 0


def test_zero_turns_the_limits_off():
    server = Server("h11", ConnectionLimits(header_timeout_s=0, body_timeout_s=0, keep_alive_s=30, max_per_client=0))
    try:
        s = server.connect()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(1.5)
        s.sendall(b"Content-Length: 2\r\n\r\n{}")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.close()
    finally:
        server.stop()


def test_the_loop_is_not_needed_for_a_protocol_class():
    """guarded_protocol builds a class without touching an event loop (the CLI makes it
    before uvicorn starts one)."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    cls = guarded_protocol(LIMITS, None)
    assert cls.__name__.startswith("Guarded")
