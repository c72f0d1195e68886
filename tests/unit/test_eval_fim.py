"""`codefill eval fim`: cases from the in-repo fixture sources (tests/data/fim, one small file per
language), the cursor layouts, the scores, the reports, pinned artifacts (.deb, inner zip), and the
command end to end against the in-process fake servers (tests/fakes.py; no model, no network)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from codefill.jobs.evaluation import fim, fim_scores, fim_sources
from codefill.jobs.evaluation.artifacts import (
    Artifact,
    ArtifactError,
    archive_texts,
    download_command,
    fetch_artifact,
    sha256_of,
)
from codefill.commands.cli import main
from codefill.jobs.evaluation.fim_report import floor_rows, lost_cases, markdown_report, summary_table
from tests.fakes import FakeServer, fake_app

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fim"
RAW_TAIL = "<|endoftext|>\n@@@ not code @@@\n"
TEXT = "def f(x):\n    y = x + 1\n    return y\n\nprint(f(2))\n"


@pytest.fixture(scope="module")
def files():
    return fim_sources.sources_from_dir(FIXTURES)


def test_the_fixtures_cover_every_language(files):
    assert sorted({f.language for f in files}) == sorted(fim_sources.LANGUAGES)


# --- layouts -----------------------------------------------------------------------------


def test_each_layout_cuts_the_line_as_documented():
    lines = TEXT.split("\n")
    p = "def f(x):"
    r = "    return y\n\nprint(f(2))\n"
    assert fim.split_at(lines, "line-start", 1) == (p + "\n", "    y = x + 1", "\n" + r)
    assert fim.split_at(lines, "line-end", 1) == (p, "\n    y = x + 1", "\n" + r)
    assert fim.split_at(lines, "santacoder", 1) == (p, "\n    y = x + 1\n", r)
    assert fim.split_at(lines, "mid-line", 1, cut=7) == (p + "\n    y =", " x + 1", "\n" + r)
    assert fim.split_at(lines, "block", 1, last=2) == (p + "\n", "    y = x + 1\n    return y", "\n\nprint(f(2))\n")
    with pytest.raises(ValueError):
        fim.split_at(lines, "line-start", 0)  # no line before
    with pytest.raises(ValueError):
        fim.split_at(lines, "nope", 1)


@pytest.mark.parametrize("layout", fim.LAYOUTS)
def test_every_case_reads_back_as_its_file(files, layout):
    cases = fim.sample_cases(files, limit=8, layouts=[layout], prefix_chars=10**6, suffix_chars=10**6)
    by_path = {(f.language, f.path): f for f in files}
    assert {c.language for c in cases} == set(fim_sources.LANGUAGES)
    for c in cases:
        text = by_path[(c.language, c.path)].text
        assert c.prefix + c.middle + c.suffix == text, c.id
        line = text.split("\n")[c.line - 1]
        assert c.layout == layout and c.id.endswith("/" + layout)
        if layout == "line-start":
            assert c.prefix.endswith("\n") and c.middle == line and c.suffix.startswith("\n")
        elif layout == "line-end":
            assert c.middle == "\n" + line and c.suffix.startswith("\n")
        elif layout == "santacoder":
            assert c.middle == "\n" + line + "\n" and c.middle.strip() == line.strip()
        elif layout == "mid-line":
            head = c.prefix.rsplit("\n", 1)[-1]
            assert head.strip() and line == head + c.middle and len(c.middle) >= 2 and c.suffix.startswith("\n")
        else:
            body = c.middle.split("\n")
            assert 2 <= len(body) <= fim_sources.DEFAULT_MAX_BLOCK_LINES and body[0].strip() and body[-1].strip()
            assert c.prefix.endswith("\n") and c.suffix.startswith("\n")


def test_middles_are_code_not_comments_or_docstrings(files):
    cases = fim.sample_cases(files, limit=60, layouts=["line-start"])
    middles = {c.middle.strip() for c in cases}
    assert middles and not any(m.startswith(("//", "/*", "# ", '"""', "* ", "*/")) for m in middles)
    py = next(f for f in files if f.language == "python")
    info = fim_sources.analyze(py)
    docstring = py.text.split("\n").index('    """A circle of a given radius."""')
    assert docstring not in info.lines_ok
    assert py.text.split("\n").index("        return math.pi * self.radius ** 2") in info.lines_ok


def test_blocks_come_from_the_syntax_tree(files):
    go = next(f for f in files if f.language == "go")
    lines = go.text.split("\n")
    blocks = {"\n".join(lines[a:b + 1]) for a, b in fim_sources.analyze(go).blocks}
    assert "\tif r.size == 0 {\n\t\treturn 0, ErrEmpty\n\t}" in blocks  # a statement (Go's statement_list)
    assert any(b.startswith("\tend := ") and b.endswith("\t}") for b in blocks)  # a function body
    py = next(f for f in files if f.language == "python")
    lines = py.text.split("\n")
    py_blocks = {"\n".join(lines[a:b + 1]) for a, b in fim_sources.analyze(py).blocks}
    assert "        if shape is None:\n            continue" in py_blocks


def test_sampling_is_seeded_and_spread_over_layouts(files):
    a = fim.sample_cases(files, limit=10, seed=3)
    assert a == fim.sample_cases(files, limit=10, seed=3)
    assert a != fim.sample_cases(files, limit=10, seed=4)
    per = {}
    for c in a:
        per.setdefault(c.language, []).append(c.layout)
    assert all(len(v) == 10 for v in per.values())
    assert all(v.count("mid-line") == 2 and v.count("block") == 2 for v in per.values())
    assert fim.spread(7, 3) == [3, 2, 2]
    # fewer layouts or a smaller limit: the first cases of the same draws
    only = fim.sample_cases(files, limit=4, seed=3, layouts=["santacoder", "block"], languages=["java"])
    same = [c for c in a if c.language == "java" and c.layout in ("santacoder", "block")]
    assert [c.id for c in only] == [c.id for c in same]
    assert len({c.id for c in a}) == len(a)


def test_the_same_seed_gives_the_same_cases_from_run_to_run(files):
    # pinned: a change to the sampling shows here (the cases are seeded strings, not hash order)
    got = [c.id for c in fim.sample_cases(files, limit=5, seed=0, languages=["python", "go"])]
    assert got == ["python/fim/shapes.py:14:28/mid-line", "python/fim/shapes.py:17/line-start",
                   "python/fim/shapes.py:26/line-end", "python/fim/shapes.py:22/santacoder",
                   "python/fim/shapes.py:18-23/block", "go/fim/ring.go:7:24/mid-line", "go/fim/ring.go:12/line-start",
                   "go/fim/ring.go:7/line-end", "go/fim/ring.go:37/santacoder", "go/fim/ring.go:20-26/block"]


def test_windows_keep_whole_lines_near_the_cursor():
    text = "aaaa\nbbbb\ncccc\ndd"
    assert fim.clip_prefix(text, 100) == text
    assert fim.clip_prefix(text, 8) == "cccc\ndd"
    assert fim.clip_prefix(text, 2) == "dd"  # never less than the cursor's line
    assert fim.clip_prefix("x\n" + "y" * 50, 10) == "y" * 50
    suffix = "\nnext\nmore\nlast"
    assert fim.clip_suffix(suffix, 100) == suffix
    assert fim.clip_suffix(suffix, 11) == "\nnext\nmore"
    assert fim.clip_suffix(suffix, 2) == "\nnext"  # the cursor's line and the one after it
    assert fim.clip_suffix("next line\nrest", 3) == "next line"
    c = fim.sample_cases(fim_sources.sources_from_dir(FIXTURES), limit=5, prefix_chars=120, suffix_chars=60)
    assert all(len(x.prefix) <= 120 or "\n" not in x.prefix for x in c)
    assert all(len(x.suffix) <= 60 or x.suffix.count("\n") <= 1 for x in c)


@pytest.mark.parametrize("layout", fim.LAYOUTS)
def test_window_snap_starts_the_prefix_where_the_lsp_window_starts(layout):
    import argparse

    from codefill.lsp.context.windows import snapped_start
    from codefill.jobs.evaluation.fim_run import snap_windows

    source = fim_sources.SourceFile("python", "pkg", "m.py", "".join(f"x{i} = {i}\n" for i in range(200)))
    case = fim.build_case(source, layout, 150, cut=2 if layout == "mid-line" else None,
                          last=151 if layout == "block" else None, prefix_chars=300)
    snapped, = snap_windows([case], argparse.Namespace(window_snap_lines=16))
    cursor_line = case.line - 1 - (layout in ("line-end", "santacoder"))
    start = cursor_line - case.prefix.count("\n")
    want = snapped_start(start, cursor_line, 16)
    assert snapped.prefix.startswith(f"x{want} = ") and case.prefix.endswith(snapped.prefix)
    assert (snapped.middle, snapped.suffix) == (case.middle, case.suffix)
    assert snap_windows([case], argparse.Namespace(window_snap_lines=1)) == [case]
    assert snap_windows([case], argparse.Namespace(window_snap_lines=None)) == [case]


def test_files_that_are_not_ordinary_code_are_left_out(tmp_path):
    assert fim_sources.unusable("x = 1\n") is None
    assert fim_sources.unusable("# Code generated by protoc. DO NOT EDIT.\nx = 1\n") == "generated"
    assert "minified" in fim_sources.unusable("var a=" + "1," * 700 + "2;\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "tests").mkdir()
    (tmp_path / "pkg" / "core.py").write_text("a = 1\nb = 2\nc = 3\n")
    (tmp_path / "pkg" / "tests" / "test_core.py").write_text("assert True\n")
    (tmp_path / "pkg" / "thing_test.go").write_text("package x\n")
    (tmp_path / "pkg" / "notes.txt").write_text("hello\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.js").write_text("x\n")
    got = fim_sources.sources_from_dir(tmp_path, package="mine")
    assert [(f.path, f.language, f.package) for f in got] == [("pkg/core.py", "python", "mine")]
    generated = fim_sources.SourceFile("python", "p", "gen.py", "# @generated\n" + "x = 1\n" * 5)
    assert fim_sources.analyze(generated).lines_ok == ()


def test_cases_round_trip_through_jsonl(files, tmp_path):
    cases = fim.sample_cases(files, limit=5)
    path = fim.write_cases(cases, tmp_path / "c.jsonl")
    assert fim.read_cases(path) == cases
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(fim_sources.FimDataError, match="bad.jsonl:1"):
        fim.read_cases(tmp_path / "bad.jsonl")


# --- scores ------------------------------------------------------------------------------


def test_edit_similarity_is_one_minus_normalized_levenshtein():
    assert fim_scores._levenshtein_py("kitten", "sitting") == 3
    assert fim_scores._levenshtein_py("", "abc") == 3 and fim_scores._levenshtein_py("abc", "abc") == 0
    assert fim_scores._levenshtein_py("flaw", "lawn") == 2
    assert fim_scores.levenshtein("kitten", "sitting") == 3  # rapidfuzz or not: the same distance
    assert fim_scores.edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert fim_scores.edit_similarity("", "") == 1.0 and fim_scores.edit_similarity("", "x") == 0.0


def test_qwen_first_line_rule():
    assert fim_scores.qwen_first_line("return y\n}\n") == "return y"
    assert fim_scores.qwen_first_line("\n    return y\n}") == "return y"
    assert fim_scores.qwen_first_line(" \n  x = 1\n") == "x = 1"
    assert fim_scores.qwen_first_line("\n\nx") == ""  # only one leading newline is skipped, as published
    assert fim_scores.qwen_first_line("") == ""


def _case(layout: str, middle: str) -> fim.FimCase:
    return fim.FimCase("id", "java", layout, "p", "a.java", 2, "prefix", middle, "suffix")


def test_scores_per_layout():
    sc = _case("santacoder", "\n        return result;\n")
    s = fim_scores.score(sc, "\n        return result;")
    assert s["exact_match"] and s["first_line_match"] and s["edit_similarity"] == 1.0 and not s["empty"]
    s = fim_scores.score(sc, "\n        return result;\n    }\n}")  # goes on: not exact, right by the first-line rule
    assert not s["exact_match"] and s["first_line_match"]
    s = fim_scores.score(sc, "")
    assert s["empty"] and not s["exact_match"] and not s["first_line_match"] and s["chars"] == 0
    block = _case("block", "    a();\n    b();")
    s = fim_scores.score(block, "a();\n\n  b();\n")
    assert s["exact_match"] and s["first_line_match"] is None
    assert not fim_scores.score(block, "a();")["exact_match"]
    mid = _case("mid-line", "ult);")
    assert fim_scores.score(mid, "ult);\n")["exact_match"]


# --- pinned sources and artifacts ---------------------------------------------------------


def test_the_pins_cover_every_language_twice_with_checksums():
    pins = fim_sources.load_pins()
    for language in fim_sources.LANGUAGES:
        assert len([p for p in pins if p.language == language]) >= 2, language
    for p in pins:
        a = p.artifact
        assert a.registry in ("pypi", "npm", "debian") and len(a.sha256) == 64 and a.version in a.file
        assert p.include
    assert {p.artifact.registry for p in pins} == {"pypi", "npm", "debian"}
    assert len({p.tree_name for p in pins}) == len(pins)


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, body in members.items():
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        out += header + body + (b"\n" if len(body) % 2 else b"")
    return out


def _tar(files: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_deb_and_a_zip_inside_it_are_read(tmp_path):
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("mod/pkg/A.java", "class A {}\r\n")
        zf.writestr("mod/pkg/B.txt", "no")
    data = _tar({"./usr/share/gocode/src/x/a.go": b"package x\n", "./usr/share/gocode/src/x/a_test.go": b"t\n",
                 "./usr/lib/src.zip": zbuf.getvalue(), "./usr/bin/tool": b"\x00\xff"}, "w:xz")
    deb = tmp_path / "pkg_1.0_all.deb"
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar({"./control": b"x"}, "w:xz"),
                         "data.tar.xz": data}))
    assert archive_texts(deb, ["usr/share/gocode/src/*.go"], ["*_test.go"]) == {
        "usr/share/gocode/src/x/a.go": "package x\n"}
    assert archive_texts(deb, ["*.java"], inner="usr/lib/src.zip") == {"mod/pkg/A.java": "class A {}\n"}
    with pytest.raises(ArtifactError, match="has no"):
        archive_texts(deb, ["*"], inner="usr/lib/nothing.zip")


def test_prepare_sources_reads_the_cache_and_checks_it(tmp_path):
    sdist = tmp_path / "downloads" / "pypi" / "pkg-1.0.tar.gz"
    sdist.parent.mkdir(parents=True)
    sdist.write_bytes(_tar({"pkg-1.0/src/pkg/core.py": TEXT.encode(), "pkg-1.0/tests/test_core.py": b"x = 1\n",
                            "pkg-1.0/setup.py": b"setup()\n"}, "w:gz"))
    art = Artifact("pypi", "pkg", "1.0", sdist.name, sha256_of(sdist))
    pin = fim_sources.PinnedSource("python", art, ("pkg-1.0/*.py",))
    seen = []
    got = fim_sources.prepare_sources([pin], tmp_path, progress=lambda p, n: seen.append((p.package, n)))
    assert [(f.path, f.package) for f in got] == [("pkg-1.0/setup.py", "pkg"), ("pkg-1.0/src/pkg/core.py", "pkg")]
    assert seen == [("pkg", 2)]
    assert (tmp_path / "sources" / "python" / pin.tree_name / "pkg-1.0/src/pkg/core.py").read_text() == TEXT
    bad = fim_sources.PinnedSource("python", Artifact("pypi", "pkg", "1.0", sdist.name, "0" * 64), ("*.py",))
    with pytest.raises(fim_sources.FimDataError, match="not the pinned"):
        fim_sources.prepare_sources([bad], tmp_path)
    assert fetch_artifact(art, tmp_path / "downloads") == sdist


def test_download_commands():
    deb = Artifact("debian", "librust-serde-dev", "1.0.152-2", "librust-serde-dev_1.0.152-2_amd64.deb", "0" * 64)
    try:
        cmd = download_command(deb, Path("/tmp"))
    except ArtifactError:
        pytest.skip("no apt-get here")
    assert cmd[1:] == ["download", "--quiet", "librust-serde-dev=1.0.152-2"]
    with pytest.raises(ArtifactError, match="unknown registry"):
        download_command(Artifact("cpan", "x", "1", "x", "0"), Path("/tmp"))


# --- the command end to end ----------------------------------------------------------------

ARGS = ["--sources", str(FIXTURES), "--limit", "5", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def fakes(files):
    cases = fim.sample_cases(files, limit=5, seed=0)
    middles = {(c.prefix, c.suffix): c.middle for c in cases}
    for layouts in (["santacoder", "block"], ["line-end", "block"], ["santacoder"]):  # what the tests ask for
        middles.update({(c.prefix, c.suffix): c.middle for c in fim.sample_cases(files, limit=5, layouts=layouts)})
    logs: dict[str, list[dict]] = {"perfect": [], "garbage": []}
    with FakeServer(fake_app("perfect", "fake-perfect", middles, logs["perfect"], raw_tail=RAW_TAIL)) as perfect, \
            FakeServer(fake_app("garbage", "fake-garbage", middles, logs["garbage"])) as garbage:
        yield {"perfect": perfect.url, "garbage": garbage.url, "logs": logs, "cases": cases}


def _eval(url: str, tmp_path, *extra: str, name: str = "report.json") -> tuple[int, dict | None]:
    out = tmp_path / name
    rc = main(["eval", "fim", "--url", url, *ARGS, "--concurrency", "2", "--out", str(out), *extra])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


def test_a_perfect_server_scores_one_everywhere(fakes, tmp_path, capsys):
    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path)
    assert rc == 0
    assert report["cases"] == 40 and [v["name"] for v in report["variants"]] == ["default"]
    s = report["summary"]["default"]
    assert set(s) == {*fim_sources.LANGUAGES, "all"} and set(s["python"]) == {*fim.LAYOUTS, "all"}
    assert s["all"]["all"]["exact_match"] == 1.0 and s["all"]["all"]["edit_similarity"] == 1.0
    assert s["all"]["santacoder"]["first_line_match"] == 1.0 and s["all"]["block"]["first_line_match"] is None
    assert s["python"]["all"]["cases"] == 5 and s["python"]["all"]["line_cases"] == 4
    assert s["all"]["all"]["empty_rate"] == 0.0 and s["all"]["all"]["errors"] == 0
    assert [r["id"] for r in report["results"]] == [c.id for c in fakes["cases"]]
    sent = fakes["logs"]["perfect"][n:]
    assert len(sent) == 40 and all("suffix" in b and b["temperature"] == 0.0 for b in sent)
    assert {json.dumps(b["codefill"]) for b in sent} == {json.dumps({"language": x}) for x in fim_sources.LANGUAGES}
    assert {b["max_tokens"] for b in sent} == {64, 256}
    assert report["data"]["source"] == "folder" and report["settings"]["limit_per_language"] == 5
    out = capsys.readouterr().out
    assert "| python | santacoder | 1 | 1.000 |" in out and "| all | all | 40 | 1.000 |" in out
    assert "| all | all | 32 | 1.000 |" in out  # the first-line table counts the line cases
    md = (tmp_path / "report.md").read_text()
    assert "# FIM benchmark — fake-perfect" in md and "## Edit similarity" in md and "Lost by default" not in md


def test_compare_runs_the_variants_side_by_side(fakes, tmp_path):
    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--compare", "--layouts", "santacoder,block",
                       "--max-tokens", "16", "--extra-body", '{"repetition_penalty": 1.0}')
    assert rc == 0
    names = [v["name"] for v in report["variants"]]
    assert names == ["default", "postprocess-off", "raw-qwen"]
    for name in names:
        assert report["summary"][name]["all"]["all"]["exact_match"] == 1.0
    sent = fakes["logs"]["perfect"][n:]
    assert len(sent) == 3 * report["cases"]
    assert sum(b.get("codefill", {}).get("postprocess") is False for b in sent) == report["cases"]
    raw = [b for b in sent if "suffix" not in b]
    assert len(raw) == report["cases"] and all(b["prompt"].startswith("<|fim_prefix|>") for b in raw)
    assert all(b["repetition_penalty"] == 1.0 and b["max_tokens"] == 16 for b in sent)
    r = report["results"][0]
    assert r["raw-qwen"]["completion"] == r["middle"] and r["raw-qwen"]["raw_text"] == r["middle"] + RAW_TAIL
    assert floor_rows(report) == []
    assert "None: default is at or above" in (tmp_path / "report.md").read_text()


def test_a_raw_server_gets_vllm_s_neutral_sampling_and_stop_ids(fakes, tmp_path):
    from codefill.client.completions import QWEN_FIM_STOP_TOKEN_IDS

    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--compare", "--raw-url", fakes["perfect"] + "/v1",
                       "--languages", "c", "--layouts", "santacoder")
    assert rc == 0 and report["summary"]["raw-qwen"]["all"]["all"]["exact_match"] == 1.0
    sent = fakes["logs"]["perfect"][n:]
    raw = [b for b in sent if "suffix" not in b]
    assert raw and all(b["repetition_penalty"] == 1.0 and b["stop_token_ids"] == list(QWEN_FIM_STOP_TOKEN_IDS)
                       for b in raw)
    assert not any("stop_token_ids" in b or "repetition_penalty" in b for b in sent if "suffix" in b)
    n = len(fakes["logs"]["perfect"])
    rc, _ = _eval(fakes["perfect"], tmp_path, "--raw-fim-template", "qwen", "--raw-extra-body", '{"seed": 7}',
                  "--languages", "c", "--layouts", "santacoder")
    assert rc == 0 and all(b["seed"] == 7 for b in fakes["logs"]["perfect"][n:])


def test_switches_go_in_the_codefill_object(fakes, tmp_path, monkeypatch):
    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--postprocess", "off", "--multiline", "hint",
                       "--languages", "rust,c", "--layouts", "line-end,block", "--send-language", "off")
    assert rc == 0 and [v["name"] for v in report["variants"]] == ["postprocess-off"]
    sent = fakes["logs"]["perfect"][n:]
    assert {json.dumps(b["codefill"], sort_keys=True) for b in sent} == {
        '{"multiline": false, "postprocess": false}', '{"multiline": true, "postprocess": false}'}
    assert {r["language"] for r in report["results"]} == {"rust", "c"}
    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--rules", '{"closing_line": false}', "--languages", "go")
    assert rc == 0 and [v["name"] for v in report["variants"]] == ["rules"]
    assert all(b["codefill"] == {"rules": {"closing_line": False}, "language": "go"}
               for b in fakes["logs"]["perfect"][n:])

    from codefill.model import postprocess as postprocess_rules

    monkeypatch.setattr(postprocess_rules, "RULES", ("repeat_suffix", "closing_line"), raising=False)
    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--ablate", "--languages", "go", "--layouts", "santacoder",
                       "--send-language", "off")
    assert rc == 0
    assert [v["name"] for v in report["variants"]] == ["default", "no-repeat_suffix", "no-closing_line",
                                                       "postprocess-off"]
    bodies = [b.get("codefill") for b in fakes["logs"]["perfect"][n:]]
    assert bodies.count({"rules": {"closing_line": False}}) == report["cases"]
    assert bodies.count(None) == report["cases"]


def test_offline_asks_the_model_once_per_case_and_applies_each_rule_set_here(fakes, tmp_path):
    from codefill.model.postprocess import RULES, PostprocessOptions, postprocess

    n = len(fakes["logs"]["perfect"])
    rc, report = _eval(fakes["perfect"], tmp_path, "--ablate", "--offline", "--languages", "go,python",
                       "--layouts", "santacoder")
    assert rc == 0
    names = [v["name"] for v in report["variants"]]
    assert names == ["default", *(f"no-{r}" for r in RULES), "postprocess-off"]
    offline = [v["request"].get("offline") is not None for v in report["variants"]]
    assert offline == [False] + [True] * len(RULES) + [False]
    sent = fakes["logs"]["perfect"][n:]  # the default's and postprocess-off's requests only
    assert len(sent) == 2 * report["cases"]
    assert sum(b["codefill"].get("postprocess") is False for b in sent) == report["cases"]
    assert report["summary"]["postprocess-off"]["all"]["all"]["errors"] == 0
    cases = {c.id: c for c in fim.sample_cases(fim_sources.sources_from_dir(FIXTURES), limit=5, seed=0,
                                                 languages=["go", "python"], layouts=["santacoder"])}
    for r in report["results"]:
        case, raw = cases[r["id"]], r["postprocess-off"]["raw_text"]
        options = PostprocessOptions(language=fim_sources.grammar_for(case.language, case.path),
                                     disabled_rules=frozenset({"scope"}))
        assert r["no-scope"]["completion"] == postprocess(raw, case.prefix, case.suffix, options)
        assert r["no-scope"]["raw_text"] == raw
    assert report["settings"]["offline"] is True


def test_ablate_without_rules_says_so(fakes, tmp_path, capsys, monkeypatch):
    from codefill.model import postprocess as postprocess_rules

    monkeypatch.delattr(postprocess_rules, "RULES", raising=False)
    rc, report = _eval(fakes["perfect"], tmp_path, "--ablate")
    assert rc == 1 and report is None
    assert "--ablate needs codefill.model.postprocess.RULES" in capsys.readouterr().err


def test_a_garbage_server_and_clear_errors(fakes, tmp_path, capsys):
    rc, report = _eval(fakes["garbage"], tmp_path, "--languages", "python")
    assert rc == 0
    s = report["summary"]["default"]["python"]["all"]
    assert s["exact_match"] == 0.0 and s["cases"] == 5 and s["edit_similarity"] < 0.5
    rc, report = _eval(fakes["perfect"], tmp_path, "--languages", "cobol", name="x.json")
    assert rc == 1 and report is None and "unknown language 'cobol'" in capsys.readouterr().err
    rc, _ = _eval(fakes["perfect"], tmp_path, "--layouts", "diagonal", name="x.json")
    assert rc == 1 and "unknown layout 'diagonal'" in capsys.readouterr().err
    rc, _ = _eval(fakes["perfect"], tmp_path, "--rules", "[1]", name="x.json")
    assert rc == 1 and "--rules must be a JSON object" in capsys.readouterr().err
    rc, _ = _eval(fakes["perfect"], tmp_path, "--raw-fim-template", "nope", name="x.json")
    assert rc == 1 and "unknown FIM template 'nope'" in capsys.readouterr().err
    # every request refused (this fake reads Qwen FIM prompts only)
    rc, report = _eval(fakes["garbage"], tmp_path, "--raw-fim-template", "deepseek", "--languages", "go")
    assert rc == 1 and report["summary"]["raw-deepseek"]["all"]["all"]["errors"] == report["cases"]
    assert "every request of raw-deepseek failed" in capsys.readouterr().err


def test_prepare_writes_the_cases_eval_runs(fakes, tmp_path, capsys):
    cases_file = tmp_path / "cases.jsonl"
    assert main(["eval", "fim-prepare", *ARGS, "--out", str(cases_file)]) == 0
    printed = capsys.readouterr().out
    assert "| python | fim |" in printed and "wrote 40 cases" in printed
    assert [c.id for c in fim.read_cases(cases_file)] == [c.id for c in fakes["cases"]]
    out = tmp_path / "from-cases.json"
    rc = main(["eval", "fim", "--url", fakes["perfect"], "--cases", str(cases_file), "--layouts", "block",
               "--quiet", "--out", str(out)])
    report = json.loads(out.read_text())
    assert rc == 0 and report["cases"] == 8 and report["data"]["source"] == "cases"


def test_report_floor_and_lost_cases():
    def m(em, first):
        return {"cases": 1, "line_cases": 1, "exact_match": em, "first_line_match": first, "edit_similarity": em,
                "mean_chars": 1.0, "empty_rate": 0.0, "mean_completion_tokens": None, "latency_p50_s": None,
                "errors": 0}

    row = {"id": "java/p/A.java:3/santacoder", "middle": "\n}\n", "language": "java", "layout": "santacoder",
           "default": {"completion": "", "exact_match": False, "first_line_match": False},
           "postprocess-off": {"completion": "\n}\n}", "exact_match": False, "first_line_match": True}}
    report = {
        "server": {"model": "m", "url": "u"}, "cases": 1, "wall_time_s": 1.0, "command": "codefill eval fim",
        "date": "d", "data": {"source": "folder", "path": "x"},
        "settings": {"limit_per_language": 1, "layouts": ["santacoder"], "seed": 0, "prefix_chars": 1,
                     "suffix_chars": 1, "max_tokens": {"santacoder": 64}, "concurrency": 1},
        "variants": [{"name": "default", "model": "m", "url": "u", "request": {}},
                     {"name": "postprocess-off", "model": "m", "url": "u", "request": {}}],
        "summary": {"default": {"java": {"santacoder": m(0.0, 0.0)}, "all": {"santacoder": m(0.0, 0.0)}},
                    "postprocess-off": {"java": {"santacoder": m(0.0, 1.0)}, "all": {"santacoder": m(0.0, 1.0)}}},
        "results": [row],
    }
    floor = floor_rows(report)
    assert {(r["language"], r["baseline"], r["metric"]) for r in floor} == {
        ("java", "postprocess-off", "first_line_match"), ("all", "postprocess-off", "first_line_match")}
    assert lost_cases(report) == [row]
    md = markdown_report(report)
    assert "## Floor: default below a baseline" in md and "| java | santacoder | 0.000 | postprocess-off |" in md
    assert "## Lost by default (1; postprocess-off right)" in md and "`\\n}\\n}`" in md
    assert "| java | santacoder | 1 | 0.000 | 1.000 |" in summary_table(report)


def test_the_floor_holds_the_first_line_rule_against_the_line_cases_only():
    """A language's "all" row: the first-line rule counts line cases, so the default's
    exact match there is taken over the same cases (its block cases do not pull it down)."""
    row = {"exact_match": 0.15, "line_exact_match": 0.1875, "first_line_match": None}
    off = {"exact_match": 0.0, "line_exact_match": 0.0, "first_line_match": 0.1875}
    report = {"variants": [{"name": "default"}, {"name": "postprocess-off"}],
              "summary": {"default": {"python": {"santacoder": row, "line-end": row, "all": row}},
                          "postprocess-off": {"python": {"santacoder": off, "line-end": off, "all": off}}}}
    assert floor_rows(report) == []
    row["line_exact_match"] = 0.125
    assert [(r["layout"], r["metric"]) for r in floor_rows(report)] == [
        ("line-end", "first_line_match"), ("santacoder", "first_line_match"), ("all", "first_line_match")]
