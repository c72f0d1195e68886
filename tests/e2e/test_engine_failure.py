"""Killing vLLM's engine core process under a running `codefill serve` (tiny model).

Without --restart-on-failure the server stays up, says "unhealthy" and answers every
request with a 503 at once; a stream in flight ends with an error event. With it, a new
engine is started in the background and the server serves again.
"""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from codefill.model.engines import vllm_available
from tests.e2e.servers import ServerProcess

pytestmark = pytest.mark.vllm

FIM = {"prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))", "codefill": {"postprocess": False}}
SMALL = {"model": "tiny", "prompt": "x", "max_tokens": 2}


@pytest.fixture
def start_vllm_server(tiny_model_path):
    if not vllm_available():
        pytest.skip("vLLM is not installed")
    servers = []

    def start(*extra: str) -> ServerProcess:
        server = ServerProcess("--model", tiny_model_path, "--engine", "vllm", "--max-model-len", "2048",
                               "--served-model-name", "tiny", *extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def engine_core(server: ServerProcess):
    """The engine core process under the server (vLLM titles it VLLM::EngineCore...)."""
    psutil = pytest.importorskip("psutil")
    cores = [p for p in psutil.Process(server.proc.pid).children(recursive=True)
             if "EngineCore" in _title(p)]
    assert len(cores) == 1, [(_title(p), p.pid) for p in psutil.Process(server.proc.pid).children(recursive=True)]
    return cores[0]


def _title(proc) -> str:
    try:
        return " ".join(proc.cmdline()) or proc.name()
    except Exception:  # noqa: BLE001 - gone meanwhile
        return ""


def kill(proc) -> tuple[float, list]:
    """SIGKILL the process; returns the time of the kill and the processes under it."""
    below = proc.children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    return time.monotonic(), below


def wait_health(server: ServerProcess, predicate, timeout: float) -> tuple[float, httpx.Response]:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{server.url}/health", timeout=5)
        if predicate(r) or time.monotonic() > deadline:
            return time.monotonic(), r
        time.sleep(0.05)


def assert_gone(procs, timeout: float = 20) -> None:
    """Nothing of the dead engine stays behind (its workers hold memory)."""
    psutil = pytest.importorskip("psutil")
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    assert not alive, [(p.pid, _title(p)) for p in alive]


def test_killed_engine_makes_the_server_unhealthy_and_fail_fast(start_vllm_server):
    server = start_vllm_server()
    url = f"{server.url}/v1/completions"
    assert httpx.post(url, json=SMALL, timeout=60).status_code == 200
    core = engine_core(server)
    body = {"model": "tiny", "max_tokens": 1500, "stream": True, **FIM}
    with httpx.stream("POST", url, json=body, timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
        killed_at, below = kill(core)
        # The stream in flight ends (no hang) with an error event and [DONE].
        rest = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        stream_ended_s = time.monotonic() - killed_at
    assert rest[-1] == "[DONE]"
    assert json.loads(rest[-2])["error"]["code"] == "engine_unavailable"
    assert stream_ended_s < 5

    at, health = wait_health(server, lambda r: r.status_code == 503, timeout=5)
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert at - killed_at < 2
    started = time.monotonic()
    r = httpx.post(url, json=SMALL, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["code"] == "engine_unavailable"
    assert time.monotonic() - started < 1
    r = httpx.post(f"{server.url}/v1/chat/completions", timeout=10,
                   json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert r.status_code == 503
    assert server.proc.poll() is None  # the HTTP server itself stays up
    assert httpx.get(f"{server.url}/v1/models").status_code == 200
    assert_gone([core, *below])
    print(f"\nkill -> /health 503: {at - killed_at:.2f} s; stream in flight ended after {stream_ended_s:.2f} s")


def test_restart_on_failure_brings_the_engine_back(start_vllm_server):
    server = start_vllm_server("--restart-on-failure")
    url = f"{server.url}/v1/completions"
    assert httpx.post(url, json=SMALL, timeout=60).status_code == 200
    core = engine_core(server)
    killed_at, below = kill(core)

    at, health = wait_health(server, lambda r: r.status_code == 503, timeout=5)
    assert at - killed_at < 2 and health.json()["status"] in ("unhealthy", "restarting")
    r = httpx.post(url, json=SMALL, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["code"] == "engine_unavailable"
    statuses = set()
    back_at, health = wait_health(server, lambda r: statuses.add(r.json()["status"]) or r.status_code == 200,
                                  timeout=600)
    assert health.status_code == 200, server.log_tail()
    assert "restarting" in statuses

    r = httpx.post(url, json=SMALL, timeout=60)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1
    assert engine_core(server).pid != core.pid
    assert server.metric("codefill_engine_restarts_total") == 1
    assert_gone([core, *below])
    print(f"\nkill -> serving again: {back_at - killed_at:.1f} s")
