"""The short soak (the long one is `benchmarks/soak.py`, i.e. codefill.jobs.bench.soak): dozens of streaming
clients in a closed loop against the real server on the tiny model, half of the requests hanging up
mid-stream. Afterwards nothing is left in flight, every stream that was not abandoned
ended with [DONE], and the server's memory is where it was after a warm-up round of the
same load (the warm-up makes sure the baseline already holds what a steady load
allocates once; growth after it is what the soak leaks).

The memory criterion covers the server process, where every stream's state lives. vLLM's
worker process grows by itself for about a minute of this load (with or without abandoned
streams) before it levels off, longer than CI can wait; the script's long run waits for
that plateau and checks the whole process tree.
"""

from __future__ import annotations

import httpx
import pytest

from codefill.jobs.bench.soak import markdown, soak
from codefill.jobs.bench.soak_load import Load

CLIENTS = 32
WARMUP_S = 10
DURATION_S = 20


@pytest.mark.timeout(300)
async def test_soak_with_abandoned_streams(tiny_server):
    load = Load(clients=CLIENTS, duration_s=DURATION_S, seed=1, max_tokens=16)
    result = await soak(tiny_server.url, load, pid=tiny_server.proc.pid, warmup_s=WARMUP_S,
                        settle_timeout_s=30, rss_scope="server", progress_s=10)
    s = result.soak
    engine = httpx.get(f"{tiny_server.url}/health", timeout=10).json().get("engine")
    print(markdown(result, {"date": "CI", "command": "tests/e2e/test_soak.py", "url": tiny_server.url,
                            "engine": engine, "model": "tiny"}))
    assert s["completed"] > 0 and s["abandoned"] > 0, s  # both paths ran
    assert s["errors"] == 0, s["error_samples"]  # every surviving stream ended with [DONE]
    assert result.engine_in_flight == 0, "the engine still holds requests of closed streams"
    assert result.http_in_flight <= 1, "requests still being handled (1 is the /metrics scrape)"
    assert result.rss_growth is not None and result.rss_growth < 0.10, (
        f"the server's memory grew {result.rss_growth:.1%}: {result.rss_baseline} -> {result.rss_after}")
    assert result.passed, result.failures
