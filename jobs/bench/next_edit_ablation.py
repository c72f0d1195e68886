"""Next-edit post-processing ablation, offline: does the whitespace rule earn its place.

Reads `codefill eval next-edit` reports whose windows are the model's own rewrites (made with
`--no-postprocess`, or before the rule existed: reports without a `postprocess` field), and,
with no server, runs the rule (`drop_whitespace_changes` in `codefill.model.next_edit_edits`,
the code the server runs) on each answer, with the recent edits the case was asked with (read
again from the report's repository, seed and split). Per report and variant: window exact
match and "no edit" accuracy without and with the rule, the cases it wins and loses.

An answer can only be lost where the model was right, and a small model is rarely right on an
edit, so a second figure bounds what a better model would lose: over every case of the
repository's history (training and held-out), the targets the rule would change ("spoiled":
a perfect answer the rule makes wrong), by kind.

    codefill eval next-edit --url URL --repo REPO --no-postprocess --out raw.json
    python benchmarks/next_edit_ablation.py raw.json [more.json ...] --out ablation.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from codefill.jobs.bench.infill_ablation import open_report
from codefill.jobs.evaluation.reports import command_block, write_reports

FIM = "fim"


def ablate(report: dict[str, Any], *, quiet: bool = True) -> dict[str, Any]:
    from codefill.jobs.next_edit_data.cases import EDIT
    from codefill.jobs.next_edit_data.collect import DEFAULT_MAX_COMMITS, collect_cases
    from codefill.model.next_edit_edits import drop_whitespace_changes

    if report.get("postprocess", False) is not False:
        raise ValueError("not a raw run: make it with `codefill eval next-edit --no-postprocess`")
    collected = collect_cases(report["repo"], holdout=report["holdout"], seed=report["seed"],
                              max_commits=report.get("max_commits", DEFAULT_MAX_COMMITS), show_progress=not quiet)
    every = collected.train + collected.held_out
    by_key = {c.key: c for c in every}
    spoiled = Counter()
    for c in every:
        spoiled[c.kind, "cases"] += 1
        if drop_whitespace_changes(c.window, c.target, [d for _, d in c.events]) != c.target:
            spoiled[c.kind, "spoiled"] += 1
    variants = {}
    for v in report["variants"]:
        if v == FIM:
            continue
        rows = []
        for row in report["cases"]:
            case, answer = by_key.get(row["key"]), row[v].get("window")
            if case is None or answer is None or case.window != row["window"] or case.target != row["target"]:
                continue  # an error, or a case the history no longer gives
            ruled = drop_whitespace_changes(case.window, answer, [d for _, d in case.events])
            rows.append({"key": row["key"], "kind": case.kind, "raw_exact": answer == case.target,
                         "rule_exact": ruled == case.target, "raw_quiet": answer == case.window,
                         "rule_quiet": ruled == case.window, "changed": ruled != answer})
        quiet_rows = [r for r in rows if r["kind"] != EDIT]
        variants[v] = {
            "cases": len(rows), "changed": sum(r["changed"] for r in rows),
            "raw_exact": sum(r["raw_exact"] for r in rows), "rule_exact": sum(r["rule_exact"] for r in rows),
            "raw_no_edit": sum(r["raw_quiet"] for r in quiet_rows),
            "rule_no_edit": sum(r["rule_quiet"] for r in quiet_rows),
            "no_edit_cases": len(quiet_rows),
            "wins": [r["key"] for r in rows if r["rule_exact"] and not r["raw_exact"]],
            "losses": [r["key"] for r in rows if r["raw_exact"] and not r["rule_exact"]],
        }
    return {"repo": report["repo"], "raw_run": report.get("command"), "variants": variants,
            "history": {kind: {"cases": spoiled[kind, "cases"], "spoiled": spoiled[kind, "spoiled"]}
                        for kind in sorted({k for k, _ in spoiled})}}


def _repo_name(repo: str) -> str:
    """`owner+name` of a mirror's `.../owner+name/repo`, else the folder's own name."""
    path = Path(repo)
    return path.parent.name if path.name == "repo" else path.name


def markdown(outs: list[dict[str, Any]], command: str) -> str:
    lines = ["# Next-edit whitespace rule: ablation (offline)", "", *command_block(command), "",
             "| repository | variant | cases | answers changed | EM raw | EM with rule | no-edit raw "
             "| no-edit with rule | wins | losses |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for out in outs:
        name = _repo_name(out["repo"])
        for v, s in out["variants"].items():
            lines.append(f"| {name} | {v} | {s['cases']} | {s['changed']} | {s['raw_exact']} | {s['rule_exact']} "
                         f"| {s['raw_no_edit']}/{s['no_edit_cases']} | {s['rule_no_edit']}/{s['no_edit_cases']} "
                         f"| {len(s['wins'])} | {len(s['losses'])} |")
    lines += ["", "Targets of the whole history the rule would spoil (a perfect answer made wrong):", "",
              "| repository | kind | cases | spoiled |", "|---|---|---:|---:|"]
    for out in outs:
        name = _repo_name(out["repo"])
        for kind, h in out["history"].items():
            lines.append(f"| {name} | {kind} | {h['cases']} | {h['spoiled']} |")
    losses = [k for out in outs for s in out["variants"].values() for k in s["losses"]]
    lines += ["", f"- losses: {', '.join(losses) if losses else 'none'}"]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw_reports", nargs="+", help="`codefill eval next-edit` JSON reports (.json or .json.gz) "
                                                  "made with --no-postprocess")
    p.add_argument("--out", required=True, help="JSON report; the Markdown goes beside it with .md")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python benchmarks/next_edit_ablation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    outs = []
    for name in args.raw_reports:
        try:
            outs.append(ablate(open_report(Path(name)), quiet=args.quiet))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
    md = markdown(outs, command)
    write_reports({"command": command, "reports": outs}, Path(args.out), md)
    print(md)
    return 0


__all__ = ["ablate", "main", "markdown"]
