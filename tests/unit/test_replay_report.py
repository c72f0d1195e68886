"""The replay's figures: acceptance, staleness and the engine's counters from /metrics."""

from __future__ import annotations

import pytest

from codefill.jobs.bench.replay.report import client_figures, engine_figures
from codefill.jobs.bench.scrape import delta, parse
from codefill.jobs.bench.replay.session import AskRecord, SessionResult

METRICS = """# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 800.0
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 1000.0
# TYPE vllm:prompt_tokens_cached_total counter
vllm:prompt_tokens_cached_total{engine="0",model_name="m"} 800.0
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 3.0
vllm:request_success_total{engine="0",finished_reason="abort",model_name="m"} 1.0
# TYPE codefill_requests_total counter
codefill_requests_total{endpoint="completions",status="200"} 4.0
"""


def test_engine_counters_from_metrics_and_their_rates():
    moved = delta({}, parse(METRICS))  # a fresh server: what it counted is what moved
    assert moved["engine_requests"] == 4 and moved["prefix_cache_queries"] == 1000
    # per request that reached the server: vLLM leaves aborted requests out of its request counts
    f = engine_figures(moved, sent=5)
    assert f["prefix_cache_hit_rate"] == 0.8
    assert f["prompt_tokens_per_request"] == 200 and f["prefilled_tokens_per_request"] == 40
    assert engine_figures(moved)["prefilled_tokens_per_request"] is None
    assert engine_figures(None)["prefix_cache_hit_rate"] is None
    assert delta(None, moved) is None


def test_acceptance_and_stale_rates():
    asks = [AskRecord(0, 0.0, "shown", 0.4, "abc", whole=True, first_line=True, accepted=True),
            AskRecord(3, 0.3, "shown", 0.6, "xyz", whole=False, first_line=True),
            AskRecord(5, 0.5, "stale", 0.9),
            AskRecord(6, 0.6, "cancelled"),
            AskRecord(7, 0.7, "outdated", 0.3, behind=1),  # late: the editor dropped it, neither shown nor stale
            AskRecord(8, 0.8, "empty", 0.2)]
    result = SessionResult("s", "c", "python", typed_chars=10, keystrokes=7, accepted_chars=3, final_ok=True,
                           asks=asks)
    f = client_figures([result], {"sent": 4})
    assert (f["requests"], f["shown"], f["stale"], f["cancelled"], f["empty"]) == (6, 2, 1, 1, 1)
    assert f["outdated"] == 1
    assert f["whole_rate"] == 0.5 and f["first_line_rate"] == 1.0
    assert f["accepted_chars_per_100"] == 30.0
    assert f["stale_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert f["latency_p50_s"] == pytest.approx(0.5)
    assert f["lsp"] == {"sent": 4}
    assert [b["shown"] for b in f["by_position"]] == [1, 1, 0, 0, 0]


def test_prefix_cache_hits_after_each_files_first_request():
    # The first prompt of a file finds nothing cached; from then on the layout decides.
    one = SessionResult("a", "c", "python", typed_chars=10,
                        engine={"prefix_cache_queries": 3000, "prefix_cache_hits": 1600},
                        engine_after_first={"prefix_cache_queries": 2000, "prefix_cache_hits": 1600})
    two = SessionResult("b", "c", "python", typed_chars=10,
                        engine={"prefix_cache_queries": 1000, "prefix_cache_hits": 0})
    f = client_figures([one, two])
    assert f["engine"]["prefix_cache_hit_rate"] == 0.4
    assert f["engine"]["prefix_cache_hit_rate_after_first"] == 0.8
    assert "prefix_cache_hit_rate_after_first" not in client_figures([two])["engine"]
