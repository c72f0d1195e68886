"""The reports of `codefill eval humaneval-infill`: the summary table it prints and the Markdown beside the JSON;
they read a finished report and send nothing."""

from __future__ import annotations

import json
from typing import Any

from codefill.jobs.evaluation.reports import command_block, fmt, md_cell


def _systems(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(via, summary) of each system in the report: the server, then the oracle when there is one."""
    request = report["server"]["request"]
    raw = "fim_template" in request
    systems = [(f"raw FIM prompt ({request['fim_template']})" if raw else "suffix", report["summary"])]
    if report.get("oracle"):
        how = f"raw FIM prompt ({request['fim_template']})" if raw else "postprocess off"
        systems.append((f"best-line oracle, {how}", report["oracle"]["summary"]))
    return systems


def summary_table(report: dict[str, Any]) -> str:
    systems = _systems(report)
    lines_col = len(systems) > 1  # with the oracle: the mean lines of each system's completions
    head = ("| mode | model | via | pass@1 | exact match | passed | errors | timeouts | latency p50 (s) "
            "| latency p95 (s) |")
    rule = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    if lines_col:
        head, rule = head + " mean lines |", rule + "---:|"
    rows = [head, rule]
    for how, s in systems:
        rows.append(
            f"| {report['mode']} | {report['server']['model']} | {how} | {s['pass_at_1']:.3f} | {s['exact_match']:.3f} "
            f"| {s['passed']}/{s['cases']} | {s['errors']} | {s['timeouts']} | {fmt(s['latency_p50_s'])} "
            f"| {fmt(s['latency_p95_s'])} |" + (f" {fmt(s.get('mean_lines'), '.2f')} |" if lines_col else ""))
    return "\n".join([
        *rows,
        "",
        f"cases: {report['cases']} of {report['cases_total']}  ·  wall time: {report['wall_time_s']:.1f} s",
    ])


def _oracle_cell(o: dict[str, Any]) -> str:
    if o["error"] is not None:
        return f"error: {md_cell(o['error'], 60)}"
    if o["passed"]:
        return f"passed, {o['cut_lines']} lines: `{md_cell(o['completion'], 80)}`"
    return f"{o['status']} ({o['programs_run']} cuts run)"


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    sample = "all cases" if st["limit"] is None else f"a sample of {st['limit']} (seed {st['seed']})"
    oracle = report.get("oracle")
    failed = [r for r in report["results"] if not r["passed"]]
    lines = [
        f"# HumanEval {report['mode']} infilling — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']}",
        f"- cases: {report['cases']} of {report['cases_total']} ({sample})",
        f"- greedy (temperature 0), max_tokens {st['max_tokens']}, concurrency {st['concurrency']}",
        f"- request: `{json.dumps(report['server']['request'], ensure_ascii=False)}`",
    ]
    if oracle:
        s = oracle["summary"]
        lines += [
            f"- best-line oracle: `{json.dumps(oracle['request'], ensure_ascii=False)}`; "
            f"mean lines of its cuts {fmt(s['mean_lines'], '.2f')} (passed: {fmt(s['mean_lines_passed'], '.2f')}), "
            f"{s['programs_run']} programs run",
        ]
    lines += [
        "",
        *command_block(report["command"]),
        "",
        summary_table(report),
        "",
    ]
    if failed:
        head, rule = "| case | status | completion |", "|---|---|---|"
        if oracle:
            head, rule = head + " oracle |", rule + "---|"
        lines += [f"## Not passed ({len(failed)})", "", head, rule]
        for r in failed:
            text = r["completion"] if r["error"] is None else f"error: {r['error']}"
            row = f"| {r['case_id']} | {r['status']} | `{md_cell(text)}` |"
            lines.append(row + (f" {_oracle_cell(r['oracle'])} |" if oracle else ""))
        lines.append("")
    lost = [r for r in report["results"] if oracle and r["passed"] and not r["oracle"]["passed"]]
    if lost:
        lines += [f"## Passed, but not by the oracle ({len(lost)})", "", "| case | completion | oracle |",
                  "|---|---|---|"]
        for r in lost:
            o = r["oracle"]
            raw = f"error: {o['error']}" if o["error"] is not None else o["completion"]
            lines.append(f"| {r['case_id']} | `{md_cell(r['completion'])}` | {o['status']}: `{md_cell(raw)}` |")
        lines.append("")
    return "\n".join(lines)
