"""The cross-file quality benchmark (codefill.jobs.bench.crossfile_*, benchmarks/crossfile_quality.py): case
extraction on a tiny generated package, context per case, scoring, and one end-to-end run against an
in-process fake server (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from codefill.jobs.bench.crossfile_cases import Case, extract_cases, sample_cases
from codefill.jobs.bench.crossfile_quality import main
from codefill.jobs.bench.crossfile_scoring import (
    build_context,
    callee_correct,
    definition_shown,
    exact_match,
    masked_text,
)

from tests.fakes import FakeServer

TINY = {
    "tinypkg/__init__.py": "from .util import helper\n\n__all__ = ['helper']\n",
    "tinypkg/util.py": (
        "def helper(x: int) -> int:\n"
        '    """Double x."""\n'
        "    return 2 * x\n\n\n"
        "class Box:\n"
        "    def __init__(self, v):\n"
        "        self.v = v\n\n\n"
        "def local_use():\n"
        "    return helper(1)  # same module: not a case\n"
    ),
    "tinypkg/sub/__init__.py": "",
    "tinypkg/sub/tools.py": "def shout(s: str) -> str:\n    return s.upper()\n",
    "tinypkg/app.py": (
        "import os\n"
        "import tinypkg.sub.tools as tools\n"
        "from . import util\n"
        "from .util import Box as Crate\n"
        "from tinypkg import helper\n"
        "from tinypkg.sub import tools as t2\n\n\n"
        "def run(name):\n"
        "    box = Crate(helper(3))\n"  # leftmost of two calls: Crate
        "    loud = tools.shout(name)\n"
        "    print(util.helper(2), os.path.join('a', 'b'))\n"  # print is a builtin: util.helper
        "    é = t2.shout('ü')\n"  # non-ASCII before the callee
        "    box.v = len(name)\n"  # no package call
        "    from .util import local_use\n"
        "    return local_use()\n"  # function-level import: not followed
    ),
}


def write_package(root: Path) -> Path:
    for rel, text in TINY.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_extracts_calls_into_other_modules_through_every_import_form(tmp_path):
    cases = extract_cases(write_package(tmp_path), "tinypkg")
    got = [(c.file, c.line, c.callee, c.definition_file, c.definition_name, c.via_reexport, c.middle)
           for c in cases]
    assert got == [
        ("tinypkg/app.py", 9, "Crate", "tinypkg/util.py", "Box", False, "Crate(helper(3))"),
        ("tinypkg/app.py", 10, "tools.shout", "tinypkg/sub/tools.py", "shout", False, "tools.shout(name)"),
        ("tinypkg/app.py", 11, "util.helper", "tinypkg/util.py", "helper", False,
         "util.helper(2), os.path.join('a', 'b'))"),
        ("tinypkg/app.py", 12, "t2.shout", "tinypkg/sub/tools.py", "shout", False, "t2.shout('ü')"),
    ]
    # `helper` through the package's `__init__` re-export is a case only where it is leftmost:
    # line 9's leftmost call is Crate; make helper leftmost and it resolves through the re-export.
    app = tmp_path / "tinypkg" / "app.py"
    app.write_text(app.read_text().replace("box = Crate(helper(3))", "box = helper(3)"))
    first = extract_cases(tmp_path, "tinypkg")[0]
    assert (first.callee, first.definition_file, first.via_reexport) == ("helper", "tinypkg/util.py", True)


def test_cursor_columns_and_masked_document(tmp_path):
    case = next(c for c in extract_cases(write_package(tmp_path), "tinypkg") if c.callee == "t2.shout")
    assert case.line_prefix == "    é = " and case.column == 8 and case.character == 8
    text = masked_text((tmp_path / case.file).read_text(), case)
    lines = text.split("\n")
    assert lines[case.line] == "    é = "
    assert lines[case.line + 1] == "    box.v = len(name)"  # the lines after stay


def test_context_holds_the_definition_read_from_disk(tmp_path):
    from codefill.lsp.context import ContextBuilder
    from codefill.lsp.documents import DocumentStore

    root = write_package(tmp_path / "tinypkg")
    builder = ContextBuilder(DocumentStore([str(root)]))
    for case in extract_cases(root, "tinypkg"):
        ctx = build_context(builder, root, case)
        assert ctx.prefix.endswith(case.line_prefix) and ctx.suffix.startswith("\n")
        assert ctx.path == case.file and ctx.repo_name == "tinypkg"
        assert definition_shown(case, ctx.files), (case, ctx.files)
        assert builder.store.documents() == []  # closed again: no other file is open for the next case


def test_sample_is_deterministic_and_spread_over_files():
    cases = [Case(f"f{f}.py", i, 0, 0, "g", "d.py", "g", False, "", "g()") for f in range(4) for i in range(10)]
    a = sample_cases(cases, 8, seed=1)
    assert a == sample_cases(cases, 8, seed=1) and len(a) == 8
    assert {c.file for c in a} == {"f0.py", "f1.py", "f2.py", "f3.py"}
    assert [c.file for c in a].count("f0.py") == 2
    assert a != sample_cases(cases, 8, seed=2)
    assert sample_cases(cases, None, 0) == cases


@pytest.mark.parametrize(("completion", "callee", "ok"), [
    ("helper(1)", "helper", True), ("helper", "helper", True), ("helpers(1)", "helper", False),
    ("helper.x()", "helper", False), ("util.helper(2)", "util.helper", True), ("x", "helper", False),
])
def test_callee_correct(completion, callee, ok):
    assert callee_correct(completion, callee) is ok


def test_exact_match_ignores_trailing_whitespace_only():
    assert exact_match("f(x)  ", "f(x)")
    assert not exact_match(" f(x)", "f(x)")


def fake_app(middles: dict[str, str], log: list[dict], fail: bool = False):
    """A server that knows the middle only when it is sent cross-file files (or, `fail`, a dead
    engine that answers 503 to every completion)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "fake", "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(body: dict):
        log.append(body)
        if fail:
            return JSONResponse({"error": {"message": "the engine has failed", "type": "server_error"}},
                                status_code=503)
        if "suffix" in body:
            text = middles[body["prompt"]] if body["codefill"]["files"] else "nothing(useful)"
        else:  # a raw Qwen prompt: the prefix sits between <|fim_prefix|> and <|fim_suffix|>
            prefix = body["prompt"].split("<|fim_prefix|>", 1)[1].split("<|fim_suffix|>", 1)[0]
            has_files = body["prompt"].count("<|file_sep|>") > 1  # the edited file has one too
            text = (middles[prefix] if has_files else "nothing(useful)") + "\n    more_code()"
        return {"id": "x", "object": "text_completion", "model": "fake",
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}

    return app


def test_end_to_end_against_a_fake_server(tmp_path, monkeypatch):
    pkg_root = write_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(pkg_root))
    # The prompts the script will send, from its own case extraction and context building.
    from codefill.lsp.context import ContextBuilder
    from codefill.lsp.documents import DocumentStore

    root = write_package(tmp_path / "ws" / "tinypkg")
    builder = ContextBuilder(DocumentStore([str(root)]))
    middles = {build_context(builder, root, c).prefix: c.middle for c in extract_cases(root, "tinypkg")}
    log: list[dict] = []
    out = tmp_path / "result.json"
    with FakeServer(fake_app(middles, log)) as server:
        assert main(["--url", server.url, "--package", "tinypkg", "--limit", "0", "--quiet",
                        "--concurrency", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    s = result["summary"]
    assert result["cases_total"] == s["cases"] == 4 and len(log) == 8
    assert s["with"]["exact_match"] == 1.0 and s["without"]["exact_match"] == 0.0
    assert s["definition_in_context"] == 4 and s["em_only_with"] == 4
    assert all(b["stop"] == ["\n"] and b["max_tokens"] == 48 and b["temperature"] == 0 and
               b["codefill"]["multiline"] is False and b["codefill"]["repo_name"] == "tinypkg" for b in log)
    assert {b["codefill"]["path"] for b in log} == {"tinypkg/app.py"}
    # Each case's two requests go back to back, the order alternating from case to case.
    assert all(log[i]["prompt"] == log[i + 1]["prompt"] for i in range(0, 8, 2))
    assert [bool(b["codefill"]["files"]) for b in log[:4]] == [True, False, False, True]
    first = result["results"][0]
    assert first["with"]["exact_match"] and not first["without"]["exact_match"]
    assert out.with_suffix(".md").read_text().count("| with |") == 1


def test_failed_requests_are_not_scored_skipped_after_max_errors_and_resumed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_package(tmp_path / "site")))
    log: list[dict] = []
    dead = tmp_path / "dead.json"
    with FakeServer(fake_app({}, log, fail=True)) as server:
        main(["--url", server.url, "--package", "tinypkg", "--limit", "0", "--quiet", "--concurrency", "1",
                 "--max-errors", "2", "--out", str(dead)])
    result = json.loads(dead.read_text())
    s = result["summary"]
    assert s["cases"] == 4 and s["scored"] == 0 and s["with"]["exact_match"] == 0.0
    assert len(log) == 3  # the third failure stops the sending; the rest are skipped
    assert s["with"]["errors"] + s["without"]["errors"] == 8

    # A good run, then a resumed one against a dead server: every answer is reused, none is sent.
    from codefill.lsp.context import ContextBuilder
    from codefill.lsp.documents import DocumentStore

    root = write_package(tmp_path / "ws" / "tinypkg")
    builder = ContextBuilder(DocumentStore([str(root)]))
    middles = {build_context(builder, root, c).prefix: c.middle for c in extract_cases(root, "tinypkg")}
    good, resumed = tmp_path / "good.json", tmp_path / "resumed.json"
    with FakeServer(fake_app(middles, [])) as server:
        main(["--url", server.url, "--package", "tinypkg", "--limit", "0", "--quiet", "--out", str(good)])
    log.clear()
    with FakeServer(fake_app({}, log, fail=True)) as server:
        main(["--url", server.url, "--package", "tinypkg", "--limit", "0", "--quiet", "--resume", str(good),
                 "--out", str(resumed)])
    assert log == []
    a, b = json.loads(good.read_text()), json.loads(resumed.read_text())
    assert b["requests_reused"] == 8 and b["summary"] == a["summary"] and b["results"] == a["results"]


def test_raw_fim_template_mode_builds_the_prompt_codefill_would(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_package(tmp_path / "site")))
    from codefill.lsp.context import ContextBuilder
    from codefill.lsp.documents import DocumentStore

    root = write_package(tmp_path / "ws" / "tinypkg")
    builder = ContextBuilder(DocumentStore([str(root)]))
    middles = {build_context(builder, root, c).prefix: c.middle for c in extract_cases(root, "tinypkg")}
    log: list[dict] = []
    out = tmp_path / "raw.json"
    with FakeServer(fake_app(middles, log)) as server:
        main(["--url", server.url, "--package", "tinypkg", "--limit", "0", "--quiet",
                 "--raw-fim-template", "qwen", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["summary"]["with"]["exact_match"] == 1.0 and result["summary"]["without"]["exact_match"] == 0.0
    assert all("suffix" not in b and "codefill" not in b and b["stop"] == ["\n"] and b["stop_token_ids"]
               and b["prompt"].startswith("<|repo_name|>tinypkg\n") for b in log)
    assert "raw FIM template qwen" in out.with_suffix(".md").read_text()
