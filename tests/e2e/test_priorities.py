"""Priorities through the real `codefill serve` on vLLM (tiny random model, `--max-running 1`): a FIM
request sent after several chat requests, while the engine is full, is answered before them."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from codefill.model.engines import vllm_available
from tests.e2e.servers import ServerProcess


@pytest.fixture(scope="module")
def one_slot_server(tiny_model_path):
    if not vllm_available():
        pytest.skip("vLLM is not installed")
    server = ServerProcess("--model", tiny_model_path, "--engine", "vllm", "--max-model-len", "2048",
                           "--served-model-name", "tiny", "--max-running", "1")
    try:
        yield server
    finally:
        server.stop()


def test_fim_goes_ahead_of_queued_chat(one_slot_server):
    server = one_slot_server
    done: dict[str, float] = {}
    status: dict[str, int] = {}

    def chat(name: str, max_tokens: int) -> None:
        r = httpx.post(f"{server.url}/v1/chat/completions", timeout=300, json={
            "model": "tiny", "messages": [{"role": "user", "content": f"Explain {name}"}], "max_tokens": max_tokens})
        status[name], done[name] = r.status_code, time.monotonic()

    def fim() -> None:
        r = httpx.post(f"{server.url}/v1/completions", timeout=300, json={
            "model": "tiny", "prompt": "def add(a, b):\n    ", "suffix": "\n", "max_tokens": 8,
            "codefill": {"postprocess": False}})
        status["fim"], done["fim"] = r.status_code, time.monotonic()

    def waiting(n: int) -> None:
        deadline = time.monotonic() + 60
        while server.metric("codefill_requests_waiting") < n:
            assert time.monotonic() < deadline, "requests did not queue"
            time.sleep(0.02)

    threads = [threading.Thread(target=chat, args=("running", 400))]
    threads[0].start()
    deadline = time.monotonic() + 60
    while server.metric("codefill_engine_requests_in_flight") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for i in range(3):
        threads.append(threading.Thread(target=chat, args=(f"queued-{i}", 40)))
        threads[-1].start()
        waiting(i + 1)
    threads.append(threading.Thread(target=fim))
    threads[-1].start()
    waiting(4)
    for t in threads:
        t.join(300)
    assert set(status.values()) == {200}, status
    assert all(done["fim"] < done[f"queued-{i}"] for i in range(3)), done
    assert server.metric('codefill_queue_wait_seconds_count{priority_class="high"}') >= 1
    assert server.metric('codefill_queue_wait_seconds_count{priority_class="normal"}') >= 4
