"""`codefill bench`: the workload it builds, its statistics, and a full run against two fake
servers (interleaving, ratios, report files, plot)."""

from __future__ import annotations

import json

import pytest

from codefill.jobs.bench.runner import split_rounds
from codefill.jobs.bench.stats import Sample, level_stats, paired_ratios, percentile, ratios
from codefill.jobs.bench.workload import (
    MAX_TOKENS_CHOICES,
    WorkloadError,
    build_workload,
    char_estimate,
    load_sources,
)
from codefill.commands.cli import main
from tests.fakes import FakeServer, fake_echo_app


@pytest.fixture(scope="module")
def sources():
    return load_sources()


# --- workload ------------------------------------------------------------------------------


def test_requests_are_cut_from_real_source_at_the_cursor(sources):
    by_name = {s.name: "".join(s.lines) for s in sources}
    for r in build_workload(30, prompt_tokens=[512, 2048], seed=3, sources=sources):
        whole = by_name[r.source]
        # prefix + the real middle + suffix is a contiguous piece of the file: nothing invented
        assert r.prefix + r.expected + r.suffix in whole
        assert r.expected.strip()
        assert r.max_tokens in MAX_TOKENS_CHOICES[r.kind]
        if r.kind == "single-line":
            assert "\n" not in r.expected and r.suffix.startswith("\n")
        else:
            assert r.expected.count("\n") >= 3 and r.prefix.endswith(" ")


@pytest.mark.parametrize("target", [512, 2048, 8192])
def test_prompts_have_about_the_asked_size(sources, target):
    sizes = [char_estimate(r.prefix) + char_estimate(r.suffix)
             for r in build_workload(12, prompt_tokens=[target], seed=1, sources=sources)]
    # whole lines are added until the size is reached: a little over, never far off
    assert all(0.9 * target <= s <= 1.15 * target for s in sizes), sizes


def test_typing_requests_follow_one_line_typed_through(sources):
    reqs = build_workload(12, prompt_tokens=[512], kinds=["typing"], seed=3, sources=sources)
    assert len(reqs) == 12 and all(r.kind == "typing" and not r.multiline for r in reqs)
    runs = 0
    for before, after in zip(reqs, reqs[1:]):
        if (after.source, after.cursor_line) != (before.source, before.cursor_line):
            runs += 1
            continue
        # the next pause in the same line: what was typed since joins the prefix, the suffix stays
        assert after.prefix.startswith(before.prefix) and len(after.prefix) > len(before.prefix)
        assert after.suffix == before.suffix
        assert before.expected.endswith(after.expected)
        assert after.prefix[-1] in " (.:" and not after.expected.startswith(" ")  # after a pause, at a word
    assert runs < 11  # several requests per typed line
    assert build_workload(6, kinds=["single-line", "multi-line"], seed=1, sources=sources) == \
        build_workload(6, seed=1, sources=sources)  # the default mix leaves typing out


def test_workload_is_named_by_its_seed(sources):
    a = build_workload(10, seed=7, sources=sources)
    assert a == build_workload(10, seed=7, sources=sources)
    assert a != build_workload(10, seed=8, sources=sources)
    assert {r.kind for r in build_workload(40, seed=0, sources=sources)} == {"single-line", "multi-line"}
    assert {r.kind for r in build_workload(10, kinds=["multi-line"], sources=sources)} == {"multi-line"}


def test_impossible_workloads_are_refused(sources):
    with pytest.raises(WorkloadError, match="at least 32"):
        build_workload(1, prompt_tokens=[8], sources=sources)
    with pytest.raises(WorkloadError, match="long enough"):
        build_workload(1, prompt_tokens=[10_000_000], sources=sources)
    with pytest.raises(WorkloadError, match="unknown request kind"):
        build_workload(1, kinds=["paragraph"], sources=sources)


# --- statistics ----------------------------------------------------------------------------


def test_percentiles_and_throughput():
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    samples = [Sample("a", 1, 0, f"r{i}", "single-line", 512, latency_s=float(i), ttft_s=0.1 * i,
                      completion_tokens=10) for i in range(1, 5)]
    samples.append(Sample("a", 1, 0, "bad", "single-line", 512, error="HTTP 500"))
    s = level_stats(samples, busy_s=8.0)
    assert (s["requests"], s["errors"]) == (5, 1)
    assert s["latency_p50_s"] == 2.5 and s["ttft_p50_s"] == pytest.approx(0.25)
    assert s["tokens_per_s"] == 5.0 and s["requests_per_s"] == 0.5
    r = ratios(s, {**s, "latency_p50_s": 2.0, "tokens_per_s": 10.0})
    assert r["latency_p50_s"] == 1.25 and r["tokens_per_s"] == 0.5
    assert ratios(s, {**s, "latency_p95_s": None})["latency_p95_s"] is None


def test_paired_ratios_compare_each_request_with_itself():
    def mk(server, rid, lat):
        return Sample(server, 1, 0, rid, "single-line", 512, latency_s=lat, ttft_s=lat / 2)

    a = [mk("a", "r1", 1.1), mk("a", "r2", 22.0), mk("a", "r3", 3.3), mk("a", "only-a", 9.0)]
    b = [mk("b", "r1", 1.0), mk("b", "r2", 20.0), mk("b", "r3", 3.0)]
    p = paired_ratios(a, b)
    assert p["pairs"] == 3
    assert p["latency_median"] == pytest.approx(1.1) and p["latency_geomean"] == pytest.approx(1.1)
    assert p["ttft_median"] == pytest.approx(1.1)


def test_rounds_never_fall_below_the_concurrency():
    reqs = list(range(10))
    assert [len(p) for p in split_rounds(reqs, 2, 1)] == [5, 5]
    assert [len(p) for p in split_rounds(reqs, 4, 4)] == [4, 4, 2]
    assert [len(p) for p in split_rounds(reqs, 2, 16)] == [10]


# --- end to end against two fake servers ---------------------------------------------------


def test_compare_run_interleaves_servers_and_writes_the_report(tmp_path):
    logs: dict[str, list[dict]] = {"a": [], "b": []}
    with FakeServer(fake_echo_app("model-a", logs["a"], delay_s=0.002)) as a, \
            FakeServer(fake_echo_app("model-b", logs["b"], delay_s=0.02, text="<|fim_prefix|>y = 2")) as b:
        out = tmp_path / "bench.json"
        rc = main(["bench", "--url", a.url, "--extra-body", '{"codefill": {"postprocess": false}}',
                   "--compare", b.url, "--compare-raw-fim-template", "qwen",
                   "--compare-extra-body", '{"repetition_penalty": 1.0}',
                   "--concurrency", "1,4", "--requests", "8", "--rounds", "2", "--prompt-tokens", "64,128",
                   "--warmup", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["server_names"] == ["model-a", "model-b"]
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 4]
    for lv in report["levels"]:
        for name in ("model-a", "model-b"):
            assert lv[name]["requests"] == 8 and lv[name]["errors"] == 0
            assert lv[name]["tokens_per_s"] > 0 and lv[name]["ttft_p50_s"] is not None
        # b answers 10x slower: the ratios say so
        assert lv["ratio"]["latency_p50_s"] < 1 and lv["ratio"]["tokens_per_s"] > 1
        assert lv["paired"]["pairs"] == 8 and lv["paired"]["latency_median"] < 1
    # the same requests went to both servers: codefill's way to a, a client-built FIM prompt to b
    sent_a = [r for r in logs["a"] if "suffix" in r]
    sent_b = logs["b"]
    assert len(sent_a) == len(sent_b) == 1 + 16
    assert all(r["prompt"].startswith("<|fim_prefix|>") and "suffix" not in r for r in sent_b)
    assert all(r["repetition_penalty"] == 1.0 for r in sent_b)
    assert all(r["stream"] for r in sent_a + sent_b)
    # codefill options from --extra-body join each request's own multiline flag
    assert all(r["codefill"]["postprocess"] is False and isinstance(r["codefill"]["multiline"], bool)
               for r in sent_a)
    assert {tuple(r.get("stop") or ()) for r in sent_a} == {("\n",), ()}
    # b's text is cut at the template's control token it starts with, so it differs from a's
    assert report["compared_outputs"] == 16 and report["identical_outputs"] == 0
    # interleaved: per level, round 0 a then b, round 1 b then a (never both busy at once)
    order = sorted([(r["_t"], "a") for r in logs["a"][1:]] + [(r["_t"], "b") for r in logs["b"][1:]])
    runs = [order[0][1]]
    for _, who in order[1:]:
        if who != runs[-1]:
            runs.append(who)
    assert runs == ["a", "b", "a", "b", "a"]  # a b | b a | a b | b a
    md = out.with_suffix(".md").read_text()
    assert "Ratios model-a/model-b" in md and "bench.png" in md
    png = out.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_draft_acceptance_is_read_from_each_servers_counters_round_by_round(tmp_path):
    with FakeServer(fake_echo_app("spec", [], drafts=(5, 3))) as a, FakeServer(fake_echo_app("plain", [])) as b:
        out = tmp_path / "bench.json"
        rc = main(["bench", "--url", a.url, "--compare", b.url, "--concurrency", "1,2", "--requests", "4",
                   "--prompt-tokens", "64", "--warmup", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    report = json.loads(out.read_text())
    for lv in report["levels"]:
        # only the measured requests count (the warm-up came before), each server's alone
        assert lv["spec"]["draft_tokens"] == 20 and lv["spec"]["accepted_draft_tokens"] == 12
        assert lv["spec"]["draft_acceptance"] == pytest.approx(0.6)
        assert lv["plain"]["draft_tokens"] is None and lv["plain"]["draft_acceptance"] is None
    assert "| 60% of 20 |" in out.with_suffix(".md").read_text()


def test_failed_requests_are_counted_not_fatal(tmp_path):
    log: list[dict] = []
    with FakeServer(fake_echo_app("m", log, fail_every=3)) as a:
        out = tmp_path / "b.json"
        rc = main(["bench", "--url", a.url, "--concurrency", "2", "--requests", "6", "--warmup", "0",
                   "--prompt-tokens", "64", "--out", str(out), "--quiet"])
    assert rc == 0
    lv = json.loads(out.read_text())["levels"][0]
    assert lv["m"]["requests"] == 6 and lv["m"]["errors"] == 2 and "ratio" not in lv


def test_unreachable_server_is_one_clear_error(capsys, tmp_path):
    rc = main(["bench", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "x.json"), "--quiet"])
    assert rc == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--url", "http://x", "--concurrency", "0,4"])
    assert "positive integers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--url", "http://x", "--kinds", "paragraph"])
    assert "kinds are" in capsys.readouterr().err


def test_default_rounds_alternate_every_concurrency_worth_of_requests(tmp_path):
    logs: dict[str, list[dict]] = {"a": [], "b": []}
    with FakeServer(fake_echo_app("model-a", logs["a"])) as a, FakeServer(fake_echo_app("model-b", logs["b"])) as b:
        rc = main(["bench", "--url", a.url, "--compare", b.url, "--concurrency", "2", "--requests", "6",
                   "--prompt-tokens", "64", "--warmup", "0", "--out", str(tmp_path / "r.json"), "--quiet"])
    assert rc == 0
    order = [who for _, who in sorted([(r["_t"], "a") for r in logs["a"]] + [(r["_t"], "b") for r in logs["b"]])]
    assert order == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]  # a b | b a | a b


def test_chat_load_runs_beside_fim_and_compares_priorities_in_one_run(tmp_path, qwen_tokenizer):
    """`--chat-load` against the real app (a slow controlled engine, --max-running 2): chat keeps
    the engine full while FIM is measured, at its own priority and at chat's (`--compare` itself)."""
    import asyncio

    from codefill.server.app import build_app
    from codefill.server.state import ServerConfig, ServingState
    from tests.fake_engine import ControlledEngine

    class SlowEngine(ControlledEngine):
        async def generate(self, prompt_token_ids, options, request_id):
            async for delta in super().generate(prompt_token_ids, options, request_id):
                await asyncio.sleep(0.002)
                yield delta

    engine = SlowEngine(qwen_tokenizer)
    asyncio.run(engine.start())
    state = ServingState(ServerConfig(served_model_name="m", model_path="m", max_running=2), engine)
    state._prepare_templates()
    state.ready = True
    with FakeServer(build_app(state, start_engine=False)) as server:
        out = tmp_path / "prio.json"
        rc = main(["bench", "--url", server.url, "--name", "fim", "--compare", server.url,
                   "--compare-name", "fim-at-chat-priority", "--compare-extra-body", '{"priority": 10}',
                   "--chat-load", "4", "--chat-max-tokens", "40", "--concurrency", "1", "--requests", "4",
                   "--prompt-tokens", "64", "--kinds", "single-line", "--warmup", "0", "--out", str(out),
                   "--quiet"])
        metrics = state.metrics.render().decode()
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["settings"]["chat_load"] == 4
    (load,) = report["chat_load"]  # one load: both names are the same server
    assert load["streams"] == 4 and load["completed"] > 0 and load["errors"] == 0
    lv = report["levels"][0]
    assert lv["fim"]["errors"] == 0 and lv["fim-at-chat-priority"]["errors"] == 0
    # FIM waited for slots beside the chat, in its own class and in chat's
    high = [line for line in metrics.splitlines()
            if line.startswith('codefill_queue_wait_seconds_count{priority_class="high"}')]
    assert high and float(high[0].split()[-1]) >= 4
    assert "background chat load" in out.with_suffix(".md").read_text()
