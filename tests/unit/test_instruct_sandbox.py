"""The sandbox of `codefill data instruct`: loops, memory bombs, writes outside, network calls, processes."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from model.instruct.sandbox import (
    Isolation,
    NetworkIsolationUnavailable,
    SandboxLimits,
    detect_isolation,
    run_sandboxed,
)

NO_NAMESPACE = Isolation((), "audit-hook-only", "test: no namespace")
FAST = SandboxLimits(timeout_s=5, memory_mb=512)


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    """The namespace where the machine allows one, else the audit hook alone (the tests still hold)."""
    return detect_isolation(allow_fallback=True)


def namespace_or_skip() -> Isolation:
    try:
        return detect_isolation()
    except NetworkIsolationUnavailable as exc:
        pytest.skip(f"no network namespace on this machine: {exc}")


def run(program: str, isolation: Isolation, limits: SandboxLimits = FAST, **kw):
    return run_sandboxed(program, limits=limits, isolation=isolation, **kw)


class Listener:
    """A listening TCP socket on loopback; `arrived()` says whether anything connected to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def arrived(self) -> bool:
        # The kernel completes a handshake into the backlog without accept(): a non-blocking
        # accept after the program ended sees any connection that was made.
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.sock.close()


def connect_program(port: int, catch: bool = False) -> str:
    call = f"socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'hello')"
    if catch:  # a program that hides the failure must still not get through
        call = f"try:\n    {call}\nexcept Exception:\n    pass"
    return f"import socket\n{call}\n"


def test_a_correct_program_passes_and_a_wrong_one_fails(isolation):
    ok = run("def f():\n    return 42\n\nassert f() == 42\n", isolation)
    assert ok.status == "passed" and ok.returncode == 0
    bad = run("def f():\n    return 41\n\nassert f() == 42, 'wrong'\n", isolation)
    assert bad.status == "failed" and "AssertionError: wrong" in bad.stderr_tail


def test_an_infinite_loop_is_stopped_by_the_wall_clock(isolation):
    limits = SandboxLimits(timeout_s=1.5, memory_mb=512)
    start = time.monotonic()
    busy = run("while True:\n    pass\n", isolation, limits)
    sleepy = run("import time\nwhile True:\n    time.sleep(0.1)\n", isolation, limits)  # no CPU time used
    assert busy.status == "timeout" and busy.returncode is None
    assert sleepy.status == "timeout" and "killed after 1.5 s" in sleepy.stderr_tail
    assert time.monotonic() - start < 2 * 1.5 + 4


def test_a_memory_bomb_gets_a_memory_error(isolation):
    limits = SandboxLimits(timeout_s=20, memory_mb=256)
    start = time.monotonic()
    growing = run("blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 2**20))\n", isolation, limits)
    huge = run("x = bytearray(8 * 2**30)\n", isolation, limits)
    assert growing.status == "memory" and "MemoryError" in growing.stderr_tail
    assert huge.status == "memory"
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("how", [
    "open(TARGET, 'w').write('x')",
    "import pathlib\npathlib.Path(TARGET).write_text('x')",
    "import os\nfd = os.open(TARGET, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')",
    "import os\nopen('inside.txt', 'w').write('x')\nos.rename('inside.txt', TARGET)",
    "import shutil\nopen('inside.txt', 'w').write('x')\nshutil.copyfile('inside.txt', TARGET)",
    "import os\nos.symlink(os.path.dirname(TARGET), 'out')\nopen('out/' + os.path.basename(TARGET), 'w').write('x')",
    "import os\nos.makedirs('a', exist_ok=True)\nfd = os.open('.', os.O_RDONLY)\n"
    "os.open('../' * 30 + TARGET.lstrip('/'), os.O_WRONLY | os.O_CREAT, dir_fd=fd)",
    "try:\n    open(TARGET, 'w').write('x')\nexcept Exception:\n    pass",
])
def test_a_write_outside_its_folder_is_blocked(isolation, tmp_path, how):
    target = tmp_path / "outside" / "victim.txt"
    target.parent.mkdir()
    result = run(f"TARGET = {str(target)!r}\n{how}\n", isolation)
    assert result.status == "blocked", result.stderr_tail
    assert "[codefill sandbox] blocked" in result.stderr_tail
    assert not target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == []


def test_without_the_audit_hook_the_same_write_would_land(isolation, tmp_path):
    """The control: the test above is not vacuous (the file is writable from a child process)."""
    target = tmp_path / "victim.txt"
    result = run(f"open({str(target)!r}, 'w').write('x')\n", isolation, audit=False)
    assert result.status == "passed" and target.read_text() == "x"


def test_writes_and_temporary_files_inside_its_folder_work(isolation):
    program = (
        "import json, os, pathlib, shutil, tempfile\n"
        "pathlib.Path('data/sub').mkdir(parents=True)\n"
        "pathlib.Path('data/sub/a.json').write_text(json.dumps([1, 2]))\n"
        "assert json.loads(open('data/sub/a.json').read()) == [1, 2]\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    open(os.path.join(d, 'x'), 'w').write('y')\n"
        "shutil.rmtree('data')\n"
        "assert os.path.expanduser('~') == os.getcwd()\n"
    )
    result = run(program, isolation)
    assert result.status == "passed", result.stderr_tail


def test_reading_the_users_files_is_blocked(isolation, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("api key")
    result = run(f"print(open({str(secret)!r}).read())\n", isolation)
    assert result.status == "blocked"
    listing = run(f"import os\nprint(os.listdir({str(tmp_path)!r}))\n", isolation)
    assert listing.status == "blocked"


@pytest.mark.parametrize("catch", [False, True])
def test_a_network_call_never_arrives(isolation, listener, catch):
    result = run(connect_program(listener.port, catch), isolation)
    assert result.status == "blocked"
    assert not listener.arrived()


def test_the_network_namespace_alone_stops_the_connection(listener):
    """With the audit hook left out, the kernel's namespace is what keeps the connection from arriving."""
    isolation = namespace_or_skip()
    result = run(connect_program(listener.port), isolation, audit=False)
    assert result.status == "failed"
    assert "OSError" in result.stderr_tail or "Error" in result.stderr_tail
    assert not listener.arrived()


def test_the_audit_hook_alone_stops_the_connection(listener):
    """The fallback where no namespace can be made."""
    result = run(connect_program(listener.port), NO_NAMESPACE)
    assert result.status == "blocked"
    assert not listener.arrived()


def test_without_either_layer_the_connection_arrives(listener):
    """The control: the listener does see a connection that is allowed through."""
    result = run(connect_program(listener.port), NO_NAMESPACE, audit=False)
    assert result.status == "passed"
    assert listener.arrived()


@pytest.mark.parametrize("program", [
    "import subprocess\nsubprocess.run(['true'])\n",
    "import os\nos.system('true')\n",
    "import os\nos.execv('/bin/true', ['true'])\n",
    "import os\nos.fork()\n",
    "import _posixsubprocess\n_posixsubprocess.fork_exec()\n",
    "import os, signal\nos.kill(1, 0)\n",
    "import socket\nsocket.getaddrinfo('example.com', 80)\n",
])
def test_processes_signals_and_lookups_are_blocked(isolation, program):
    result = run(program, isolation)
    assert result.status == "blocked", result.stderr_tail


def test_ctypes_cannot_be_loaded_but_ordinary_libraries_work(isolation):
    result = run("import ctypes\n", isolation)
    assert result.status == "failed" and "does not allow _ctypes" in result.stderr_tail
    program = (
        "import asyncio, collections, dataclasses, decimal, fractions, functools, heapq, itertools, json, math\n"
        "import pickle, random, re, statistics, string, typing, unittest\n"
        "@dataclasses.dataclass\nclass P:\n    x: int\n"
        "assert pickle.loads(pickle.dumps(P(1))) == P(1)\n"
        "assert asyncio.run(asyncio.sleep(0, result=3)) == 3\n"
    )
    result = run(program, isolation)
    assert result.status == "passed", result.stderr_tail


def test_no_namespace_is_refused_unless_the_fallback_is_allowed(caplog):
    with pytest.raises(NetworkIsolationUnavailable, match="--allow-network-sandbox-fallback"):
        detect_isolation(candidates=[])
    with pytest.raises(NetworkIsolationUnavailable, match="false"):
        detect_isolation(candidates=[("false",)])
    with caplog.at_level(logging.WARNING, logger="codefill.instruct"):
        fallback = detect_isolation(candidates=[], allow_fallback=True)
    assert fallback.network == "audit-hook-only" and fallback.prefix == ()
    assert any("WITHOUT a network namespace" in r.getMessage() for r in caplog.records)


def test_a_detected_namespace_has_no_interface_but_loopback():
    isolation = namespace_or_skip()
    result = run("import socket\nnames = sorted(n for _, n in socket.if_nameindex())\nassert names in ([], ['lo'])\n",
                 isolation, audit=False)
    assert result.status == "passed", result.stderr_tail
