"""The reports of `codefill eval humaneval` and `codefill eval mbpp`: the summary table it prints and the
Markdown beside the JSON; they read a finished report and send nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

from codefill.jobs.evaluation.reports import command_block, fmt, md_cell

TITLES = {"humaneval": "HumanEval", "mbpp": "MBPP"}


def summary_table(report: dict[str, Any]) -> str:
    s = report["summary"]
    ks = list(s["pass_at_k"])
    head = ["benchmark", "model", "samples", *ks, "solved", "passed", "errors", "timeouts", "truncated",
            "latency p50 (s)", "latency p95 (s)"]
    row = [report["benchmark"], report["server"]["model"], str(s["samples_per_problem"]),
           *(f"{s['pass_at_k'][k]:.3f}" for k in ks), f"{s['problems_solved']}/{s['problems']}",
           f"{s['passed']}/{s['completions']}", str(s["errors"]), str(s["timeouts"]), str(s["truncated"]),
           fmt(s["latency_p50_s"]), fmt(s["latency_p95_s"])]
    align = ["---"] * 2 + ["---:"] * (len(head) - 2)
    return "\n".join([
        "| " + " | ".join(head) + " |",
        "|" + "|".join(align) + "|",
        "| " + " | ".join(row) + " |",
        "",
        f"problems: {report['problems']} of {report['problems_total']}  ·  "
        f"wall time: {report['wall_time_s']:.1f} s",
    ])


def _first_failure(result: dict[str, Any]) -> str:
    """One line saying why the first failed sample of a problem failed."""
    for c in result["completions"]:
        if c["passed"]:
            continue
        if c["error"]:
            return f"error: {c['error']}"
        lines = [line for line in (c["stderr_tail"] or "").splitlines() if line.strip()]
        return lines[-1] if lines else f"{c['status']} (exit {c['returncode']})"
    return ""


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    sample = "all problems" if st["limit"] is None else f"a sample of {st['limit']} (seed {st['seed']})"
    sampling_text = "greedy (temperature 0)" if st["temperature"] == 0 else f"temperature {st['temperature']:g}"
    if st["top_p"] is not None:
        sampling_text += f", top_p {st['top_p']:g}"
    data = report["data"]
    lines = [
        f"# {TITLES[report['benchmark']]} (instruct) — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']} ({report['server']['request']['endpoint']})",
        f"- problems: {report['problems']} of {report['problems_total']} ({sample})"
        + (f", {data['split']}" if "split" in data else ""),
        f"- {st['samples']} sample(s) per problem, {sampling_text}, max_tokens {st['max_tokens']}, "
        f"concurrency {st['concurrency']}",
        f"- prompt: {data['prompt']}; data: `{data['file']}`",
        "",
        *command_block(report["command"]),
        "",
        summary_table(report),
        "",
    ]
    missed = [r for r in report["results"] if r["c"] < r["n"]]
    if missed:
        lines += [f"## Not passed by every sample ({len(missed)})", "",
                  "| problem | passed | statuses | first failure |", "|---|---:|---|---|"]
        for r in missed:
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r["statuses"]).items()))
            lines.append(f"| {r['task_id']} | {r['c']}/{r['n']} | {statuses} | `{md_cell(_first_failure(r))}` |")
        lines.append("")
    return "\n".join(lines)
