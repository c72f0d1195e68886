"""Next-edit cases from git history (jobs/next_edit_data): what a programmer had typed, where the
cursor was, and what the window should become; the split by commit that training and evaluation share."""

from __future__ import annotations

from codefill.jobs.next_edit_data.cases import EDIT, NO_EDIT, cases_from_change
from codefill.jobs.next_edit_data.collect import collect_cases, held_out, sample
from codefill.jobs.next_edit_data.git_history import FileChange
from codefill.lsp.edit_history import unified_diff
from tests.unit.next_edit_repo import function, make_history

BEFORE = "".join(function(f"f{i}", "value") for i in range(3))


def change(after: str, before: str = BEFORE) -> FileChange:
    return FileChange(commit="c" * 40, path="pkg/geometry.py", language="python", before=before, after=after)


def test_after_the_signature_the_target_renames_the_other_uses_in_the_window():
    after = BEFORE.replace("def f1(value", "def f1(size").replace(
        "if value is None:\n        return 0\n    total = value * factor\n    return total + len(str(value))\n\n\n"
        "def f2", "if size is None:\n        return 0\n    total = size * factor\n    return total + len(str(size))"
        "\n\n\ndef f2")
    cases = cases_from_change(change(after))
    assert [c.kind for c in cases] == [EDIT, EDIT, NO_EDIT]  # signature, `if`, then the last two lines
    first = cases[0]
    assert first.events == [("pkg/geometry.py", unified_diff(BEFORE, BEFORE.replace("def f1(value", "def f1(size")))]
    doc = (first.prefix + first.suffix).splitlines()
    assert doc[first.cursor_line] == "def f1(size, factor):"
    assert first.cursor_character == len("def f1(size, factor):")  # the end of the line typed
    rows = after.splitlines(keepends=True)[first.start_line:first.start_line + len(first.window.splitlines())]
    assert first.target == "".join(rows)  # every later use of f1's parameter renamed, f0's and f2's kept
    assert first.window.count("size") == 1 and first.target.count("size") == 4
    assert cases[-1].target == cases[-1].window and len(cases[-1].events) == 3


def test_a_later_hunk_across_the_window_edge_gives_no_case_and_big_rewrites_none_at_all():
    far = BEFORE.replace("def f0(value", "def f0(size")
    lines = far.splitlines(keepends=True)
    cut = len(lines) - 3  # f2's last lines: below the window of f0's signature
    after = "".join(lines[:cut]) + "    return None\n" + "".join(lines[cut + 1:])
    kinds = [c.kind for c in cases_from_change(change(after))]
    assert kinds == [NO_EDIT, NO_EDIT]
    rewrite = "".join(f"# line {i}\n" for i in range(20)) + BEFORE
    assert cases_from_change(change(rewrite)) == []  # new code being written, not an edit


def test_the_split_is_by_commit_and_the_same_for_training_and_evaluation(tmp_path):
    repo = make_history(tmp_path)
    every = collect_cases(repo, holdout=0.3, seed=1, show_progress=False)
    only = collect_cases(repo, holdout=0.3, seed=1, which="held-out", show_progress=False)
    assert every.train and every.held_out
    assert {c.commit for c in every.train}.isdisjoint({c.commit for c in every.held_out})
    assert [c.key for c in only.held_out] == [c.key for c in every.held_out] and not only.train
    assert all(held_out(c.commit, 0.3, 1) for c in only.held_out)


def test_a_sample_is_seeded_and_keeps_the_no_edit_share(tmp_path):
    cases = collect_cases(make_history(tmp_path), holdout=0.0, show_progress=False).train
    a, b = sample(cases, 10, 3, no_edit_share=0.5), sample(cases, 10, 3, no_edit_share=0.5)
    assert [c.key for c in a] == [c.key for c in b]
    assert sum(c.kind == NO_EDIT for c in a) == 5
