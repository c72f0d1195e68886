"""The rows an evaluation keeps on disk as they come (jobs/evaluation/checkpoint.py)."""

from __future__ import annotations

from codefill.jobs.evaluation.checkpoint import Checkpoint, partial_path


def test_rows_come_back_for_the_same_settings_only(tmp_path, capsys):
    report = tmp_path / "r.json"
    first = Checkpoint(report, {"seed": 1})
    first.add("base", "0:a", {"exact": True, "error": None})
    first.add("base", "1:b", {"exact": False, "error": "HTTP 503"})  # failed: asked again
    with partial_path(report).open("a") as f:
        f.write('{"variant": "base", "key": "2:c", "ro')  # the line being written when the run died
    again = Checkpoint(report, {"seed": 1})
    assert again.get("base", "0:a") == {"exact": True, "error": None}
    assert again.get("base", "1:b") is None and again.get("base", "2:c") is None
    assert "going on from 1 rows" in capsys.readouterr().err
    other = Checkpoint(report, {"seed": 2})
    assert other.get("base", "0:a") is None
    assert "other settings; starting over" in capsys.readouterr().err
    Checkpoint.done(report)
    assert not partial_path(report).exists()
