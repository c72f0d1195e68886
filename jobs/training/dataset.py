"""A repository turned into training and evaluation examples, with the count of every step.

The steps, in order: the repository's files (`repo_files`), exact and near
duplicates removed (`dedup`), files that contain HumanEval or MBPP problems
dropped (`decontaminate`), whole files held out for evaluation (`split`), and
FIM / plain examples cut from each side (`fim_examples`). Duplicates go before
the split, so no held-out file has a near-copy left in training.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefill.model.templates.fim import FimTemplate, detect_fim_template, get_fim_template
from codefill.jobs.training.decontaminate import BenchmarkProblem, Decontaminator
from codefill.jobs.training.dedup import DEFAULT_THRESHOLD, EXACT, NEAR, deduplicate
from codefill.jobs.training.fim_examples import (
    Example,
    ExampleBuilder,
    ExampleOptions,
    build_eval_examples,
    build_examples,
    write_examples,
)
from codefill.jobs.training.repo_files import DEFAULT_MAX_FILE_BYTES, FileFilters, scan_repository
from codefill.jobs.training.split import DEFAULT_HOLDOUT_FRACTION, split_files

TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"
REPORT_FILE = "data-report.json"


@dataclass
class DatasetReport:
    repo: str
    template: str
    train: list[Example]
    eval: list[Example]
    counts: dict[str, Any]  # the numbers of every step (see build_dataset)
    details: dict[str, Any]  # which files were skipped, removed, dropped and held out
    seconds: dict[str, float] = field(default_factory=dict)  # time of each step

    def to_dict(self, *, with_details: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"repo": self.repo, "template": self.template, "counts": self.counts,
                               "seconds": self.seconds}
        if with_details:
            out["details"] = self.details
        return out

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """train.jsonl, eval.jsonl and data-report.json in `out_dir`; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"train": out / TRAIN_FILE, "eval": out / EVAL_FILE, "report": out / REPORT_FILE}
        write_examples(paths["train"], self.train)
        write_examples(paths["eval"], self.eval)
        paths["report"].write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return paths

    def summary(self) -> str:
        """A few lines for a terminal."""
        c = self.counts
        f, d, x, s = c["files"], c["dedup"], c["decontamination"], c["split"]
        skipped = ", ".join(f"{n} {r}" for r, n in f["skipped"].items()) or "none"
        benches = ", ".join(f"{b} {n}" for b, n in x["by_benchmark"].items()) or "not run"
        lines = [
            f"files: {f['seen']} seen ({f['listed_by']}), {f['kept']} kept; skipped: {skipped}",
            f"duplicates: {d['exact']} exact, {d['near']} near (Jaccard >= {d['threshold']})",
            f"contaminated: {x['dropped']} dropped ({benches})",
            f"split: {s['train_files']} training files, {s['held_out_files']} held out",
        ]
        for side in ("train", "eval"):
            e = c["examples"][side]
            kinds = ", ".join(f"{n} {k}" for k, n in e["by_kind"].items())
            lines.append(f"{side} examples: {e['total']} ({kinds}); {e['tokens']} tokens, {e['target_tokens']} learned")
        if f.get("note"):
            lines.append(f"note: {f['note']}")
        return "\n".join(lines)


def resolve_template(tokenizer: Any, template_name: str | None) -> FimTemplate:
    if template_name is not None:
        return get_fim_template(template_name)
    template = detect_fim_template(tokenizer)
    if template is None:
        raise ValueError("the tokenizer has no fill-in-the-middle tokens; name a template with template_name")
    return template


def build_dataset(
    repo_path: str | os.PathLike[str],
    tokenizer: Any,
    template_name: str | None = None,
    *,
    seq_len: int = 2048,
    fim_rate: float = 0.9,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    seed: int = 0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    dedup_threshold: float = DEFAULT_THRESHOLD,
    decontaminate: bool = True,
    benchmarks: Sequence[BenchmarkProblem] | None = None,
    repo_name: str | None = None,
    repo_context_rate: float = 0.5,
    chars_per_example: int = 1500,
    max_examples_per_file: int = 64,
    max_middle_tokens: int = 256,
    progress: bool = True,
) -> DatasetReport:
    """Training and held-out evaluation examples from the repository at `repo_path`.

    `template_name` None picks the FIM template from the tokenizer's
    vocabulary, as the server does. `benchmarks` None decontaminates against
    HumanEval and all of MBPP. `repo_name` (default: the folder's name) goes
    into the prompts that carry repository context.
    """
    root = Path(repo_path).resolve()
    template = resolve_template(tokenizer, template_name)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    scan = scan_repository(root, FileFilters(max_bytes=max_file_bytes), progress=progress)
    lap("files")
    by_path = {f.path: f for f in scan.files}

    dedup = deduplicate(((f.path, f.text) for f in scan.files), threshold=dedup_threshold,
                        seed=seed, show_progress=progress)
    lap("dedup")

    contaminated: list[tuple[str, tuple[str, ...]]] = []
    texts_by_benchmark: dict[str, int] = {}
    problems_by_benchmark: dict[str, list[str]] = {}
    clean = dedup.kept
    if decontaminate:
        decontaminator = Decontaminator(benchmarks)
        result = decontaminator.filter((p, by_path[p].text) for p in dedup.kept)
        clean = result.kept
        contaminated = result.dropped
        texts_by_benchmark = result.texts_by_benchmark
        problems_by_benchmark = result.problems_by_benchmark
    lap("decontamination")

    split = split_files(clean, fraction=holdout_fraction, seed=seed)
    lap("split")

    builder = ExampleBuilder(tokenizer, template, ExampleOptions(
        seq_len=seq_len, fim_rate=fim_rate, chars_per_example=chars_per_example,
        max_examples_per_file=max_examples_per_file, max_middle_tokens=max_middle_tokens,
        repo_context_rate=repo_context_rate, repo_name=repo_name if repo_name is not None else root.name,
        seed=seed,
    ))
    train, train_stats = build_examples([by_path[p] for p in split.train], builder, show_progress=progress)
    evaluation, eval_stats = build_eval_examples([by_path[p] for p in split.held_out], builder,
                                                 show_progress=progress)
    lap("examples")

    counts = {
        "files": {
            "seen": scan.seen,
            "listed_by": "git" if scan.used_git else "walk",
            "skipped": scan.skipped_by_reason,
            "kept": len(scan.files),
            "languages": scan.languages(),
            **({"note": scan.note} if scan.note else {}),
        },
        "dedup": {"exact": dedup.count(EXACT), "near": dedup.count(NEAR), "kept": len(dedup.kept),
                  "threshold": dedup_threshold},
        "decontamination": {
            "run": decontaminate,
            "dropped": len(contaminated),
            "by_benchmark": texts_by_benchmark,
            "problems": problems_by_benchmark,
            "kept": len(clean),
        },
        "split": {"train_files": len(split.train), "held_out_files": len(split.held_out),
                  "fraction": holdout_fraction},
        "examples": {
            "train": {"total": len(train), **train_stats.to_dict()},
            "eval": {"total": len(evaluation), **eval_stats.to_dict()},
            "seq_len": seq_len,
            "fim_rate": fim_rate,
        },
    }
    details = {
        "skipped": [{"path": p, "reason": r} for p, r in scan.skipped],
        "duplicates": [{"path": r.key, "duplicate_of": r.duplicate_of, "reason": r.reason,
                        "similarity": round(r.similarity, 4)} for r in dedup.removed],
        "contaminated": [{"path": p, "problems": list(ids)} for p, ids in contaminated],
        "held_out": split.held_out,
    }
    return DatasetReport(repo=str(root), template=template.name, train=train, eval=evaluation,
                         counts=counts, details=details, seconds=seconds)
