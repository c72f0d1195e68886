"""A repository's next-edit cases, split by commit: training and evaluation never share a commit.

A commit is held out when a hash of the seed and its id falls under the held-out share, so
`codefill train --next-edit` and `codefill eval next-edit` agree on the split with the same
seed and share, whatever order or how many commits each reads. Cases are deduplicated on
(window, target, last event): a cherry-picked or reverted change would otherwise sit on both
sides of the split.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from codefill.jobs.next_edit_data.cases import EDIT, NO_EDIT, NextEditCase, cases_from_change
from codefill.jobs.next_edit_data.git_history import changed_files, commits

DEFAULT_HOLDOUT = 0.1  # as `codefill train`'s --holdout
DEFAULT_MAX_COMMITS = 2000
TRAIN, HELD_OUT, ALL = "train", "held-out", "all"


def held_out(commit: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{commit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass
class CollectedCases:
    repo: str
    head: str
    train: list[NextEditCase] = field(default_factory=list)
    held_out: list[NextEditCase] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def report(self) -> dict:
        kinds = {name: dict(Counter(c.kind for c in cases)) for name, cases in
                 (("train", self.train), ("held_out", self.held_out))}
        return {"repo": self.repo, "head": self.head, "counts": dict(self.counts), "kinds": kinds}

    def summary(self) -> str:
        def kinds(cases: list[NextEditCase]) -> str:
            c = Counter(x.kind for x in cases)
            return f"{c[EDIT]} edit, {c[NO_EDIT]} no-edit"
        return (f"next-edit cases from {self.counts['commits']} commits ({self.counts['files']} changed files) of "
                f"{self.repo}: {len(self.train)} training ({kinds(self.train)}), {len(self.held_out)} held-out "
                f"({kinds(self.held_out)}); {self.counts['duplicates']} duplicates dropped")


def collect_cases(repo: str | Path, *, holdout: float = DEFAULT_HOLDOUT, seed: int = 0,
                  max_commits: int | None = DEFAULT_MAX_COMMITS, which: str = ALL,
                  show_progress: bool = True) -> CollectedCases:
    """Cases from the newest `max_commits` commits; `which` reads only one side of the split."""
    from tqdm import tqdm

    ids = commits(repo, max_commits)
    out = CollectedCases(repo=str(repo), head=ids[0] if ids else "")
    seen: set[tuple[str, str, str]] = set()
    for commit in tqdm(ids, desc="reading commits", unit="commit", disable=not show_progress, leave=False):
        side = HELD_OUT if held_out(commit, holdout, seed) else TRAIN
        if which not in (ALL, side):
            continue
        out.counts["commits"] += 1
        for change in changed_files(repo, commit):
            out.counts["files"] += 1
            for case in cases_from_change(change):
                key = (case.window, case.target, case.events[-1][1] if case.events else "")
                if key in seen:
                    out.counts["duplicates"] += 1
                    continue
                seen.add(key)
                (out.held_out if side == HELD_OUT else out.train).append(case)
    return out


def sample(cases: Iterable[NextEditCase], limit: int | None, seed: int, *,
           no_edit_share: float | None = None) -> list[NextEditCase]:
    """A seeded sample of at most `limit` cases; with `no_edit_share`, no-edit cases make at most
    that share of it (a history has many more of them than edits)."""
    cases = sorted(cases, key=lambda c: c.key)
    rng = random.Random(seed)
    rng.shuffle(cases)
    if no_edit_share is not None:
        edits = [c for c in cases if c.kind == EDIT]
        quiet = [c for c in cases if c.kind == NO_EDIT]
        total = len(edits) + len(quiet) if limit is None else min(limit, len(edits) + len(quiet))
        wanted_quiet = min(len(quiet), round(total * no_edit_share))
        wanted_edits = min(len(edits), total - wanted_quiet)
        cases = edits[:wanted_edits] + quiet[:wanted_quiet]
        rng.shuffle(cases)
    return cases if limit is None else cases[:limit]


__all__ = ["ALL", "DEFAULT_HOLDOUT", "DEFAULT_MAX_COMMITS", "HELD_OUT", "TRAIN", "CollectedCases",
           "collect_cases", "held_out", "sample"]
