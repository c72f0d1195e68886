"""The offline next-edit whitespace-rule ablation (benchmarks/next_edit_ablation.py): the rule the server
runs, on a raw run's answers, with each case's recent edits read again from the repository."""

from __future__ import annotations

import json

import pytest

from codefill.jobs.bench.next_edit_ablation import main
from codefill.jobs.next_edit_data.collect import collect_cases
from tests.unit.next_edit_repo import make_history


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    repo = make_history(tmp_path_factory.mktemp("ablation"), renames=4)
    collected = collect_cases(repo, holdout=1.0, seed=0, show_progress=False)
    edits = [c for c in collected.train + collected.held_out if c.kind == "edit"]
    quiet = [c for c in collected.train + collected.held_out if c.kind == "no_edit"]
    return repo, edits, quiet


def _report(path, repo, answers, *, postprocess=False):
    cases = [{"key": c.key, "kind": c.kind, "window": c.window, "target": c.target,
              "m": {"window": answer, "error": None}} for c, answer in answers]
    report = {"command": "codefill eval next-edit ...", "repo": str(repo), "seed": 0, "holdout": 1.0,
              "postprocess": postprocess, "variants": ["m"], "cases": cases}
    path.write_text(json.dumps(report))
    return path


def test_the_rule_wins_where_the_model_only_tidied_and_keeps_a_right_answer(history, tmp_path, capsys):
    repo, edits, quiet = history
    right, tidied_edit, tidied_quiet = edits[0], edits[1], quiet[0]
    answers = [(right, right.target),  # right: the rule must leave it right
               (tidied_edit, "\n" + tidied_edit.target),  # the edit, and a blank line nobody asked for
               (tidied_quiet, tidied_quiet.window + "\n")]  # "no edit", but a blank line added at the end
    raw = _report(tmp_path / "raw.json", repo, answers)
    assert main([str(raw), "--out", str(tmp_path / "ab.json"), "--quiet"]) == 0
    s = json.loads((tmp_path / "ab.json").read_text())["reports"][0]["variants"]["m"]
    assert (s["cases"], s["raw_exact"], s["rule_exact"]) == (3, 1, 3)
    assert s["losses"] == [] and sorted(s["wins"]) == sorted([tidied_edit.key, tidied_quiet.key])
    assert (s["raw_no_edit"], s["rule_no_edit"], s["no_edit_cases"]) == (0, 1, 1)
    assert "| m | 3 | 2 | 1 | 3 |" in capsys.readouterr().out


def test_a_run_with_the_rule_on_is_refused(history, tmp_path, capsys):
    repo, edits, _ = history
    ruled = _report(tmp_path / "ruled.json", repo, [(edits[0], edits[0].target)], postprocess=True)
    assert main([str(ruled), "--out", str(tmp_path / "ab.json"), "--quiet"]) == 2
    assert "--no-postprocess" in capsys.readouterr().err
