"""`codefill train --next-edit` and `codefill eval next-edit` end to end on the tiny model: a history of
parameter renames becomes training examples, the adapter is served with `--lora`, and the held-out
commits are scored for the base model, the adapter and plain FIM side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import CODEFILL, ServerProcess
from tests.unit.next_edit_repo import make_history

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("next-edit")
    repo = make_history(root)
    out = root / "adapter"
    done = subprocess.run([CODEFILL, "train", str(repo), "--next-edit", "--out", str(out), "--model", tiny_model_path,
                           "--max-steps", "2", "--seq-len", "1024", "--batch-size", "1", "--lr", "1e-2",
                           "--holdout", "0.3", "--eval-limit", "3", "--eval-batch-size", "3"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "rewritten-window loss" in done.stdout and "codefill eval next-edit" in done.stdout
    return repo, out


def test_the_history_becomes_next_edit_examples_held_out_by_commit(trained):
    _, out = trained
    report = json.loads((out / "data" / "data-report.json").read_text())
    assert report["template"] == "next_edit" and report["counts"]["train"] > 0 and report["counts"]["eval"] > 0
    assert report["collected"]["counts"]["commits"] == 13
    assert (out / "adapter_config.json").is_file()
    assert "rewritten-window" in (out / "train-report.md").read_text()


def test_eval_scores_base_adapter_and_fim_on_the_held_out_commits(trained, tiny_model_path, tmp_path):
    repo, out = trained
    server = ServerProcess("--model", tiny_model_path, "--engine", "hf", "--max-model-len", "2048",
                           "--served-model-name", "tiny", "--lora", f"geo={out}")
    try:
        done = subprocess.run([CODEFILL, "eval", "next-edit", "--url", server.url, "--repo", str(repo),
                               "--models", "tiny,geo", "--fim", "--limit", "4", "--holdout", "0.3",
                               "--max-tokens", "16", "--out", str(tmp_path / "ne.json"), "--quiet"],
                              capture_output=True, text=True, timeout=900)
        # The side-by-side latency benchmark, the same server twice: greedy, so the answers agree.
        speed = subprocess.run([sys.executable, str(BENCHMARKS / "next_edit_speed.py"), "--url", server.url,
                                "--url", server.url, "--repo", str(repo), "--holdout", "0.3", "--limit", "2",
                                "--max-tokens", "16", "--out", str(tmp_path / "speed.json"), "--quiet"],
                               capture_output=True, text=True, timeout=900)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-4000:]
    assert speed.returncode == 0, speed.stderr[-4000:]
    timed = json.loads((tmp_path / "speed.json").read_text())
    assert timed["same_answers"] == 2 and [s["errors"] for s in timed["servers"]] == [0, 0]
    assert all(s["latency_p50_s"] > 0 and s["completion_tokens"] > 0 for s in timed["servers"])
    report = json.loads((tmp_path / "ne.json").read_text())
    assert report["variants"] == ["tiny", "geo", "fim"]
    for variant in report["variants"]:
        s = report["summary"][variant]
        assert s["cases"] == 4 and s["errors"] == 0 and s["latency_p50_s"] > 0
    held = {c["key"].split(":")[0] for c in report["cases"]}
    trained_on = {json.loads(line)["path"].split(":")[0] for line in (out / "data" / "train.jsonl").open()}
    assert held and held.isdisjoint(trained_on)  # no held-out commit was trained on
    assert "| geo |" in (tmp_path / "ne.md").read_text()


def test_a_folder_without_history_is_one_clear_error(tmp_path):
    done = subprocess.run([CODEFILL, "eval", "next-edit", "--url", "http://127.0.0.1:9", "--repo", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not a git repository" in done.stderr and "Traceback" not in done.stderr
