"""The report of a `codefill data instruct` run: counts at every step, pass rates, JSON and Markdown.

Written next to the dataset: `NAME.report.json` and `NAME.report.md` for
`NAME.jsonl`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def report_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".report.json"), out.with_name(stem + ".report.md")


def work_dir(out: str | os.PathLike[str]) -> Path:
    """Where the caches of a run live: `NAME.work/` beside `NAME.jsonl`."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".work")


@dataclass
class InstructReport:
    command: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, Any] = field(default_factory=dict)
    instructions: dict[str, Any] = field(default_factory=dict)
    evolution: dict[str, Any] = field(default_factory=dict)
    responses: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)  # sent this run / answered from the cache
    durations_s: dict[str, float] = field(default_factory=dict)
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, out: str | os.PathLike[str]) -> tuple[Path, Path]:
        json_path, md_path = report_paths(out)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path

    def markdown(self) -> str:
        lines = ["# codefill data instruct", ""]
        if self.command:
            lines += [f"`{self.command}`", ""]
        lines += [f"Output: `{self.output}` ({self.dataset.get('examples', 0)} examples)", ""]
        s = self.settings
        lines += ["## Settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in s.items()]
        sb = self.sandbox
        lines += ["", "## Sandbox", "",
                  f"- sandbox: **{sb.get('sandbox')}** ({sb.get('description')})",
                  f"- limits: {sb.get('limits')}"]
        for key in ("network", "uid", "filesystem", "seccomp"):
            if sb.get(key):
                lines.append(f"- {key}: {sb[key]}")

        steps = self.seeds.get("steps", {})
        lines += ["", "## Seeds", "", "| step | count |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in steps.items()]
        if self.seeds.get("contaminated_by_benchmark"):
            lines.append("")
            lines.append("Contaminated seeds by benchmark: " + ", ".join(
                f"{b} {n}" for b, n in self.seeds["contaminated_by_benchmark"].items()))
        if "selected" in self.seeds:
            lines.append(f"\nSeeds used (`--limit`): {self.seeds['selected']}")

        i = self.instructions
        lines += ["", "## Instructions (seed -> concepts -> instruction)", "",
                  f"- seeds asked: {i.get('asked', 0)}; instructions parsed: {i.get('parsed', 0)}; "
                  f"unparseable answers: {i.get('unparsed', 0)}",
                  f"- the same task again, dropped: {i.get('same_name', 0)} naming an earlier instruction's "
                  f"function, {i.get('near_duplicates', 0)} near duplicates of an earlier one's text; "
                  f"distinct instructions: {i.get('distinct', i.get('parsed', 0))}"]

        ev = self.evolution
        lines += ["", f"## Evol-Instruct ({ev.get('rounds', 0)} rounds)", ""]
        if ev.get("per_round"):
            rules = list(ev["per_round"][0]["eliminated"])
            lines += ["| round | attempted | kept | " + " | ".join(rules) + " |",
                      "|---:|---:|---:|" + "---:|" * len(rules)]
            for r in ev["per_round"]:
                lines.append(f"| {r['round']} | {r['attempted']} | {r['kept']} | "
                             + " | ".join(str(r["eliminated"][k]) for k in rules) + " |")
        else:
            lines.append("No evolution (`--evolve 0`).")

        rs = self.responses
        lines += ["", "## Responses and self-validation", "",
                  f"- instructions: {rs.get('instructions', 0)}, {rs.get('per_instruction', 0)} responses each "
                  f"({rs.get('total', 0)} responses)"]
        if rs.get("answers") == "own":
            lines.append(f"- answers in the model's own voice (`--answers own`); tests asked for apart, one set per "
                         f"instruction: {rs.get('tests_asked', 0)}, of which without a check: "
                         f"{rs.get('tests_empty', 0)}")
        elif rs.get("tests_asked"):
            lines.append(f"- answers that ended before their tests, asked to go on from `[Tests]`: "
                         f"{rs['tests_asked']}")
        v = self.validation
        if v:
            lines += ["", "| outcome | responses |", "|---|---:|"]
            lines += [f"| {k} | {n} |" for k, n in v.get("outcomes", {}).items()]
            lines += ["",
                      f"- answers run with imports they forgot, added: {v.get('imports_added', 0)}",
                      f"- response pass rate: {100 * v.get('response_pass_rate', 0):.1f}% "
                      f"({v.get('outcomes', {}).get('passed', 0)} of {v.get('run', 0)} run)",
                      *([f"- kept once their failing checks were dropped (`--prune-tests`): "
                         f"{v['outcomes']['pruned']} ({v.get('checks_dropped', 0)} checks dropped)"]
                        if v.get("outcomes", {}).get("pruned") else []),
                      f"- instructions with a passing response: {v.get('instructions_kept', 0)} of "
                      f"{v.get('instructions', 0)} ({100 * v.get('instruction_pass_rate', 0):.1f}%)"]
            if v.get("by_round"):
                lines += ["", "| round | instructions | kept | response pass rate |", "|---:|---:|---:|---:|"]
                for r, b in v["by_round"].items():
                    lines.append(f"| {r} | {b['instructions']} | {b['kept']} | "
                                 f"{100 * b['response_pass_rate']:.1f}% |")
        d = self.dataset
        lines += ["", "## Dataset", "",
                  f"- examples written: {d.get('examples', 0)}",
                  f"- dropped by the final decontamination: {d.get('contaminated', 0)}"]
        lines += ["", "## Requests and time", "",
                  f"- requests sent: {self.requests.get('sent', 0)}; answered from the cache: "
                  f"{self.requests.get('cached', 0)}",
                  "- " + ", ".join(f"{k} {v:.1f} s" for k, v in self.durations_s.items())]
        return "\n".join(lines) + "\n"
