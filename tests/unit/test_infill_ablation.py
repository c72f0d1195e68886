"""The offline post-processing ablation on HumanEval infilling (benchmarks/infill_ablation.py):
each rule's wins and losses come from the server's own rules run on the model's raw text."""

from __future__ import annotations

import json

import pytest

from codefill.jobs.bench.infill_ablation import main
from codefill.jobs.evaluation.infill_cases import build_cases

REPEATED = "HumanEval/9/L6_L7"  # the model fills the else branch, then writes `return result` again
PLAIN = "HumanEval/0/L0_L0"
WRONG = "HumanEval/2/L0_L0"


@pytest.fixture(scope="module")
def cases():
    return {c.case_id: c for c in build_cases(mode="multi-line")}


def _raw_report(cases, path, texts: dict[str, str], *, postprocess_off: bool = True):
    extra = {"codefill": {"postprocess": False}} if postprocess_off else {}
    report = {"mode": "multi-line", "command": "codefill eval humaneval-infill ...", "date": "2026-12-03",
              "settings": {}, "server": {"request": {"suffix": True, "extra_body": extra}},
              "results": [{"case_id": cid, "raw_text": text, "error": None} for cid, text in texts.items()]}
    path.write_text(json.dumps(report))
    return path


def test_each_rules_wins_against_the_raw_text_are_counted(cases, tmp_path, sandbox, capsys):
    texts = {
        REPEATED: cases[REPEATED].middle + "\n\n    return result",
        PLAIN: cases[PLAIN].middle + "\n\n\ndef check(candidate):\n    pass",
        WRONG: "    return None",
    }
    raw = _raw_report(cases, tmp_path / "raw.json", texts)
    assert main([str(raw), "--out", str(tmp_path / "ab.json"), "--quiet"]) == 0
    out = json.loads((tmp_path / "ab.json").read_text())
    s = out["summary"]
    assert s["default"]["passed"] == 2 and s["best-line oracle"]["passed"] == 2
    # without the rule the repeated `return result` ends the function early
    assert s["no-repeat_ending"]["passed"] == 1 and s["no-repeat_ending"]["default_wins"] == [REPEATED]
    assert s["no-repeat_ending"]["default_losses"] == []
    # the raw text runs on into a definition of its own, which post-processing cuts
    assert s["postprocess-off"]["passed"] == 0 and s["postprocess-off"]["default_wins"] == [REPEATED, PLAIN]
    row = next(r for r in out["results"] if r["case_id"] == REPEATED)
    assert row["default"]["text"] == cases[REPEATED].middle and row["default"]["exact_match"]
    md = (tmp_path / "ab.md").read_text()
    assert "| no-repeat_ending | 0.333 | 1/3 |" in md and "| default | 0.667 | 2/3 |" in md
    assert "post-processing ablation" in capsys.readouterr().out


def test_a_run_with_post_processing_on_is_refused(cases, tmp_path, capsys):
    raw = _raw_report(cases, tmp_path / "pp.json", {PLAIN: cases[PLAIN].middle}, postprocess_off=False)
    assert main([str(raw), "--out", str(tmp_path / "ab.json")]) == 2
    assert "not a raw run" in capsys.readouterr().err
