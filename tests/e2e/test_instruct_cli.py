"""`codefill data instruct` end to end against a deterministic fake model server.

The command runs as a separate process (`python -m codefill.commands.cli data`, the same
parser `codefill data` registers), over a generated repository whose functions
hit every seed filter, with a fake server whose answers make each response
outcome and each evolution elimination happen a known number of times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import FakeServer
from tests.instruct_fakes import MODEL, instruct_app, make_seed_repo, requests_of
from tests.unit.test_instruct_seeds import _benchmark_file_functions

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codefill.commands.cli", "data", "instruct", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_seed_repo(tmp_path_factory.mktemp("instruct-e2e") / "my-repo")


def test_the_whole_pipeline(repo, tmp_path, sandbox):
    out = tmp_path / "data" / "my-repo-instruct.jsonl"
    log: list[dict] = []
    with FakeServer(instruct_app(log)) as server:
        args = [str(repo), "--url", server.url, "--out", str(out), "--evolve", "2", "--responses", "2",
                "--exec-timeout", "5", "--concurrency", "4"]
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        first_log = list(log)

        # Rerun: everything comes from the caches, nothing is asked again, the output is the same.
        before = out.read_text()
        again = cli(*args, "--no-progress")
        assert again.returncode == 0, again.stderr
    assert len(log) == len(first_log)
    assert out.read_text() == before

    # 12 seeds -> 12 instruction requests; 11 parse (garbled_pow does not);
    # 2 rounds x 11 evolutions; (11 + 2 x 7 kept evolutions) x 2 responses.
    # the 6 answers of notests_sub stop before their tests and are asked for them (the fake gives none)
    assert requests_of(first_log) == {"instruction": 12, "evolution": 22, "response": 50, "tests": 6}
    assert {b["model"] for b in first_log} == {MODEL}
    assert all("prompt" in b and "seed" in b for b in first_log)

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 19
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"].startswith("[Reasoning]")
        assert "[Tests]" in row["messages"][1]["content"]
        assert set(row["meta"]) >= {"id", "seed_id", "source", "concepts", "round", "method", "response_index"}
    names = {row["messages"][0]["content"].split("`")[1] for row in rows}
    assert names == {"ok_area", "ok_volume", "ok_histogram", "ok_fine", "mixed_mul",
                     "ok_evosame", "ok_evosorry", "ok_evostop", "ok_evocopy"}
    mixed = [r for r in rows if "`mixed_mul`" in r["messages"][0]["content"]]
    assert [r["meta"]["response_index"] for r in mixed] == [1, 1, 1]  # the failing first response dropped
    assert sorted(r["meta"]["round"] for r in rows) == [0] * 9 + [1] * 5 + [2] * 5

    report = json.loads((tmp_path / "data" / "my-repo-instruct.report.json").read_text())
    functions, undocumented = _benchmark_file_functions()
    assert report["seeds"]["steps"] == {
        "python_files": 7, "functions": 20 + functions, "no_docstring": 2 + undocumented, "unparseable": 1,
        "trivial": 3, "too_long": 0, "exact_duplicates": 1, "near_duplicates": 1, "contaminated": 2, "seeds": 12}
    assert report["seeds"]["contaminated_by_benchmark"] == {"humaneval": 1, "mbpp": 1}
    assert report["instructions"] == {"asked": 12, "parsed": 11, "unparsed": 1, "same_name": 0,
                                      "near_duplicates": 0, "distinct": 11}
    assert [(r["attempted"], r["kept"], r["eliminated"]) for r in report["evolution"]["per_round"]] == [
        (11, 7, {"no_change": 1, "sorry": 1, "stop_words": 1, "copied_template": 1})] * 2
    assert report["evolution"]["eliminated"] == {"no_change": 2, "sorry": 2, "stop_words": 2, "copied_template": 2}
    v = report["validation"]
    assert v["outcomes"] == {"no_code": 0, "no_tests": 6, "no_assertions": 0, "copies_instruction": 0,
                             "copies_example": 0, "off_task": 0, "passed": 35, "failed": 9, "timeout": 0,
                             "memory": 0, "blocked": 0, "pruned": 0}
    assert (v["responses"], v["run"], v["instructions"], v["instructions_kept"]) == (50, 44, 25, 19)
    assert v["response_pass_rate"] == round(35 / 44, 4)
    # round 0: 11 instructions x 2 responses, notests_sub's 2 not run; 4 ok lineages, 4 evo*, mixed's second pass
    assert v["by_round"]["0"] == {"instructions": 11, "kept": 9, "run": 20, "passed": 17,
                                  "response_pass_rate": round(17 / 20, 4)}
    assert report["dataset"] == {"examples": 19, "contaminated": 0,
                                 "contaminated_by_benchmark": {"humaneval": 0, "mbpp": 0},
                                 "by_round": {"0": 9, "1": 5, "2": 5}}
    assert report["requests"] == {"sent": 0, "cached": 90}  # the rerun's report
    assert report["sandbox"]["sandbox"] == "bubblewrap" and report["sandbox"]["isolated"] is True
    md = (tmp_path / "data" / "my-repo-instruct.report.md").read_text()
    assert "| near_duplicates | 1 |" in md and "response pass rate: 79.5%" in md
    assert "examples -> " in done.stdout and "report:" in done.stdout
    work = tmp_path / "data" / "my-repo-instruct.work"
    assert {p.name for p in work.iterdir()} == {"seeds.jsonl", "dropped-seeds.jsonl", "instructions.jsonl",
                                                "responses.jsonl", "executions.jsonl", "outcomes.jsonl"}


def test_chat_api(repo, tmp_path, sandbox):
    out = tmp_path / "chat.jsonl"
    log: list[dict] = []
    with FakeServer(instruct_app(log)) as server:
        done = cli(str(repo), "--url", server.url, "--out", str(out), "--api", "chat", "--limit", "4",
                   "--responses", "1", "--evolve", "1", "--no-progress", "--system", "You write Python.",
                   )
    assert done.returncode == 0, done.stderr
    assert log and all("messages" in b and "prompt" not in b for b in log)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["messages"][0] == {"role": "system", "content": "You write Python."} for r in rows)
    report = json.loads((tmp_path / "chat.report.json").read_text())
    assert report["seeds"]["selected"] == 4 and report["settings"]["api"] == "chat"


def test_answers_in_the_models_own_voice(repo, tmp_path, sandbox):
    """--answers own: each instruction goes alone as a chat message; the tests come from a separate request,
    whatever they define themselves does not count, and only the reply goes into the dataset."""
    out = tmp_path / "own.jsonl"
    log: list[dict] = []
    with FakeServer(instruct_app(log)) as server:
        done = cli(str(repo), "--url", server.url, "--out", str(out), "--answers", "own", "--responses", "2",
                   "--exec-timeout", "5", "--concurrency", "4", "--no-progress")
    assert done.returncode == 0, done.stderr
    # 11 instructions: 2 answers each, and one tests request each
    assert requests_of(log) == {"instruction": 12, "response": 22, "evolution": 0, "tests": 11}
    answers = [b for b in log if "messages" in b]
    assert len(answers) == 33 and all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user"
                                      for b in answers)  # no system message, no worked examples
    report = json.loads((tmp_path / "own.report.json").read_text())
    v = report["validation"]
    # ok_* 8 x 2 pass; mixed_mul passes for its odd seed; bad_div fails twice even though its tests define a
    # bad_div that returns 42; notests_sub's tests reply has no asserts
    assert {k: n for k, n in v["outcomes"].items() if n} == {"passed": 17, "failed": 3, "no_tests": 2}
    assert (v["instructions"], v["instructions_kept"]) == (11, 9)
    assert report["responses"]["tests_empty"] == 1 and report["settings"]["answers"] == "own"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 9
    for row in rows:
        user, assistant = row["messages"]
        name = user["content"].split("`")[1]
        assert assistant["content"].startswith(f"Here is `{name}`") and "[Tests]" not in assistant["content"]
        assert assistant["content"].endswith("It returns 42 whatever it is given.")
    mixed = [r for r in rows if "`mixed_mul`" in r["messages"][0]["content"]]
    assert [r["meta"]["response_index"] for r in mixed] == [1]


def test_without_bubblewrap_it_refuses_unless_told_to_run_unsandboxed(repo, tmp_path):
    """No `bwrap` on PATH: refused before any request, with how to install it; `--unsafe-no-sandbox`
    runs the tests anyway (with a loud warning)."""
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    log: list[dict] = []
    with FakeServer(instruct_app(log)) as server:
        refused = cli(str(repo), "--url", server.url, "--out", str(tmp_path / "x.jsonl"), env=env)
        assert refused.returncode == 1
        assert "apt-get install bubblewrap" in refused.stderr and "--unsafe-no-sandbox" in refused.stderr
        assert log == [] and not (tmp_path / "x.jsonl").exists()

        allowed = cli(str(repo), "--url", server.url, "--out", str(tmp_path / "x.jsonl"), "--limit", "2",
                      "--responses", "1", "--no-progress", "--unsafe-no-sandbox", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "WITHOUT a sandbox" in allowed.stderr
    report = json.loads((tmp_path / "x.report.json").read_text())
    assert report["sandbox"]["sandbox"] == "none" and report["sandbox"]["isolated"] is False


def test_bad_arguments_are_refused(tmp_path):
    assert cli(str(tmp_path / "missing"), "--url", "http://127.0.0.1:9", "--out", "x.jsonl").returncode == 1
    assert cli(str(tmp_path), "--url", "u", "--out", "x", "--responses", "0").returncode == 2


@pytest.mark.skipif("data" not in __import__("codefill.commands.cli", fromlist=["x"]).build_parser()._subparsers
                    ._group_actions[0].choices, reason="commands/cli.py does not register `codefill data` yet")
def test_codefill_data_is_registered():
    from codefill.commands.cli import build_parser

    args = build_parser().parse_args(["data", "instruct", "repo", "--url", "u", "--out", "o", "--evolve", "2"])
    assert args.evolve == 2 and args.func.__name__ == "run_data_instruct"
