"""`codefill eval fim --compare` against the real `codefill serve` with the tiny random model, on the
in-repo fixture sources (tests/data/fim: no download): every variant's request is taken, every case
gets a completion, and the report holds each language and layout. The tiny model writes noise, so
only the plumbing is checked, not the scores."""

from __future__ import annotations

import json
from pathlib import Path

from codefill.jobs.evaluation.fim import LAYOUTS
from codefill.commands.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fim"
LANGS = ("python", "java", "rust")  # indentation, braces, and an expression-bodied language: every layout of each


def test_eval_fim_compare_against_the_tiny_model(tiny_server, tmp_path, capsys):
    out = tmp_path / "fim.json"
    rc = main(["eval", "fim", "--url", tiny_server.url, "--sources", str(FIXTURES), "--languages", ",".join(LANGS),
               "--limit", "5", "--seed", "1", "--max-tokens", "8", "--compare", "--concurrency", "4", "--quiet",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    names = [v["name"] for v in report["variants"]]
    assert names == ["default", "postprocess-off", "raw-qwen"]
    assert report["cases"] == 5 * len(LANGS) and report["server"]["model"] == "tiny"
    for name in names:
        s = report["summary"][name]
        assert s["all"]["all"]["errors"] == 0, name
        assert set(s) == {*LANGS, "all"} and set(s["all"]) == {*LAYOUTS, "all"}
        assert 0.0 <= s["all"]["all"]["exact_match"] <= 1.0 and 0.0 <= s["all"]["all"]["edit_similarity"] <= 1.0
        assert 0 < s["all"]["all"]["mean_completion_tokens"] <= 8
    for r in report["results"]:
        assert r["postprocess-off"]["completion"] == r["postprocess-off"]["raw_text"]
        assert all(isinstance(r[n]["completion"], str) for n in names)
    assert "## Exact match" in (tmp_path / "fim.md").read_text()
    assert "| all | all | 15 |" in capsys.readouterr().out
