"""`build_dataset` over a generated git repository: the count of every step, exactly."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from codefill.jobs.training.dataset import build_dataset
from codefill.jobs.training.fim_examples import IGNORE_INDEX, read_examples
from codefill.jobs.training.repo_files import scan_repository
from tests.unit.training_repo import UNTRACKED, humaneval_solution, make_repo, mbpp_paste, repo_files

SEQ_LEN = 512


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def report(repo, qwen_tokenizer):
    return build_dataset(repo, qwen_tokenizer, "qwen", seq_len=SEQ_LEN, seed=7, progress=False)


def expected(outcome: str) -> set[str]:
    files = {**repo_files(), **UNTRACKED}
    return {path for path, (_, what) in files.items() if what == outcome}


def test_git_lists_tracked_and_untracked_files_but_not_ignored_ones(repo):
    scan = scan_repository(repo)
    listed = {f.path for f in scan.files} | {p for p, _ in scan.skipped}
    assert scan.used_git and scan.note == ""
    assert listed == set(repo_files()) | set(UNTRACKED)
    assert "build/out.py" not in listed and "debug.log" not in listed
    assert {f.path: f.language for f in scan.files}["scripts/deploy"] == "bash"


def test_every_skipped_file_has_its_reason(repo):
    scan = scan_repository(repo)
    for path, reason in scan.skipped:
        assert path in expected(reason), (path, reason)
    assert scan.skipped_by_reason == {
        "vendored": 2, "generated": 2, "huge": 1, "empty": 1, "binary": 1, "minified": 1, "unknown_language": 2,
    }


def test_counts_at_every_step(report):
    c = report.counts
    assert c["files"]["seen"] == 20
    assert c["files"]["kept"] == 10
    assert c["files"]["listed_by"] == "git"
    assert c["files"]["languages"] == {"bash": 1, "go": 1, "javascript": 1, "python": 7}
    assert (c["dedup"]["exact"], c["dedup"]["near"], c["dedup"]["kept"]) == (1, 1, 8)
    assert c["decontamination"]["dropped"] == 2
    assert c["decontamination"]["by_benchmark"] == {"humaneval": 1, "mbpp": 1}
    assert c["decontamination"]["problems"] == {"humaneval": [humaneval_solution()[0]], "mbpp": [mbpp_paste()[0]]}
    assert c["decontamination"]["kept"] == 6
    assert (c["split"]["train_files"], c["split"]["held_out_files"]) == (5, 1)  # round(0.1 * 6) -> at least 1


def test_details_name_the_files(report):
    d = report.details
    dups = {(x["path"], x["duplicate_of"], x["reason"]) for x in d["duplicates"]}
    assert dups == {("src/app_copy.py", "src/app.py", "exact"), ("src/util_renamed.py", "src/util.py", "near")}
    near = next(x for x in d["duplicates"] if x["reason"] == "near")
    assert 0.5 <= near["similarity"] < 1
    assert {x["path"] for x in d["contaminated"]} == {"src/solution.py", "src/pasted.py"}
    clean = expected("kept")
    assert len(d["held_out"]) == 1 and set(d["held_out"]) < clean


def test_examples_come_from_the_right_side_of_the_split(report):
    held_out = set(report.details["held_out"])
    assert report.train and report.eval
    assert {e.path for e in report.train} == expected("kept") - held_out
    assert {e.path for e in report.eval} == held_out
    assert all(e.kind != "plain" and e.prefix is not None and e.middle for e in report.eval)
    counted = report.counts["examples"]
    assert counted["train"]["by_kind"] == dict(Counter(e.kind for e in report.train))
    assert counted["eval"]["by_kind"] == dict(Counter(e.kind for e in report.eval))
    assert counted["train"]["total"] == len(report.train)
    assert counted["train"]["target_tokens"] == sum(
        sum(1 for x in e.labels if x != IGNORE_INDEX) for e in report.train
    )
    assert all(len(e.input_ids) <= SEQ_LEN for e in report.train + report.eval)


def test_the_same_seed_gives_the_same_dataset(repo, report, qwen_tokenizer):
    again = build_dataset(repo, qwen_tokenizer, "qwen", seq_len=SEQ_LEN, seed=7, progress=False)
    assert again.counts == report.counts and again.details == report.details
    assert [e.to_json() for e in again.train] == [e.to_json() for e in report.train]
    assert [e.to_json() for e in again.eval] == [e.to_json() for e in report.eval]


def test_written_dataset_reads_back(report, tmp_path):
    paths = report.write(tmp_path / "data")
    assert [e.to_json() for e in read_examples(paths["train"])] == [e.to_json() for e in report.train]
    assert [e.to_json() for e in read_examples(paths["eval"])] == [e.to_json() for e in report.eval]
    saved = json.loads(paths["report"].read_text())
    assert saved["counts"] == json.loads(json.dumps(report.counts))
    assert "files: 20 seen (git), 10 kept" in report.summary()


def test_template_is_detected_from_the_tokenizer(repo, qwen_tokenizer):
    r = build_dataset(repo, qwen_tokenizer, seq_len=SEQ_LEN, decontaminate=False, progress=False)
    assert r.template == "qwen"
    assert r.counts["decontamination"]["dropped"] == 0 and r.counts["decontamination"]["kept"] == 8


def test_a_folder_without_git_is_walked_with_its_gitignore(tmp_path):
    root = make_repo(tmp_path / "plain", git=False)
    scan = scan_repository(root)
    listed = {f.path for f in scan.files} | {p for p, _ in scan.skipped}
    assert not scan.used_git and "not a git repository" in scan.note
    assert listed == set(repo_files()) | set(UNTRACKED)  # build/ and *.log are ignored here too
