"""The bench report: tables of figures per level and server, ratios, Markdown, and the files they go into."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _f(x: float | None, scale: float = 1.0, spec: str = ".0f") -> str:
    return "-" if x is None else format(x * scale, spec)


def _drafts(s: dict[str, Any]) -> str:
    """accepted/proposed draft tokens (codefill.jobs.bench.drafts); - without speculation's counters."""
    if s.get("draft_acceptance") is None:
        return "-"
    return f"{s['draft_acceptance']:.0%} of {s['draft_tokens']:.0f}"


def figures_table(report: dict[str, Any]) -> str:
    servers = report["server_names"]
    lines = [
        "| concurrency | server | TTFT p50 (ms) | TTFT p95 (ms) | TTFT p99 (ms) | latency p50 (ms) "
        "| latency p95 (ms) | latency p99 (ms) | req/s | tokens/s | mean new tokens | draft acceptance | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in report["levels"]:
        for name in servers:
            s = lv[name]
            lines.append(
                f"| {lv['concurrency']} | {name} | {_f(s['ttft_p50_s'], 1000)} | {_f(s['ttft_p95_s'], 1000)} "
                f"| {_f(s['ttft_p99_s'], 1000)} | {_f(s['latency_p50_s'], 1000)} | {_f(s['latency_p95_s'], 1000)} "
                f"| {_f(s['latency_p99_s'], 1000)} | {_f(s['requests_per_s'], 1, '.3f')} "
                f"| {_f(s['tokens_per_s'], 1, '.1f')} | {_f(s['mean_completion_tokens'], 1, '.1f')} "
                f"| {_drafts(s)} | {s['errors']} |"
            )
    return "\n".join(lines)


def ratio_table(report: dict[str, Any]) -> str:
    a, b = report["server_names"]
    lines = [
        f"Ratios {a}/{b} (latency: below 1 means {a} is faster; throughput: above 1 means {a} is faster)",
        "",
        "| concurrency | latency p50 | latency p95 | latency p99 | TTFT p50 | TTFT p95 | req/s | tokens/s "
        "| per-request latency ratio (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in report["levels"]:
        r = lv["ratio"]
        lines.append(
            f"| {lv['concurrency']} | {_f(r['latency_p50_s'], 1, '.3f')} | {_f(r['latency_p95_s'], 1, '.3f')} "
            f"| {_f(r['latency_p99_s'], 1, '.3f')} | {_f(r['ttft_p50_s'], 1, '.3f')} "
            f"| {_f(r['ttft_p95_s'], 1, '.3f')} | {_f(r['requests_per_s'], 1, '.3f')} "
            f"| {_f(r['tokens_per_s'], 1, '.3f')} | {_f(lv.get('paired', {}).get('latency_median'), 1, '.3f')} |"
        )
    return "\n".join(lines)


def summary_text(report: dict[str, Any]) -> str:
    parts = [figures_table(report)]
    if len(report["server_names"]) == 2:
        parts += ["", ratio_table(report)]
    s = report["settings"]
    foot = (f"prompt tokens {','.join(map(str, s['prompt_tokens']))} · kinds {','.join(s['kinds'])} · "
            f"requests per level {s['requests']} (at least the concurrency) · rounds {s['rounds']} · "
            f"wall time {report['wall_time_s']:.0f} s")
    if "identical_outputs" in report:
        foot += f" · identical outputs {report['identical_outputs']}/{report['compared_outputs']}"
    lines = parts + ["", foot]
    for load in report.get("chat_load") or ():
        extra = f", extra body `{load['extra']}`" if load.get("extra") else ""
        lines.append(f"background chat load at {load['url']}: {load['streams']} streams of up to "
                     f"{load['max_tokens']} tokens{extra}; {load['completed']} completed, {load['errors']} errors, "
                     f"latency p50 {_f(load['latency_p50_s'], 1, '.1f')} s, "
                     f"TTFT p50 {_f(load['ttft_p50_s'], 1, '.1f')} s, "
                     f"{_f(load['tokens_per_s'], 1, '.1f')} tokens/s")
    return "\n".join(lines)


def markdown_report(report: dict[str, Any], plot_name: str | None) -> str:
    lines = [
        f"# codefill bench — {report['date']}",
        "",
        "```",
        report["command"],
        "```",
        "",
    ]
    for t in report["servers"]:
        lines.append(f"- **{t['name']}**: {t['url']} model `{t['model']}`, {t['how']}"
                     + (f", extra body `{t['extra']}`" if t["extra"] else ""))
    m = report["machine"]
    lines += [
        f"- machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}",
        f"- workload: {report['workload']['description']}; tokens counted by {report['workload']['counter']}",
        "",
        summary_text(report),
        "",
    ]
    if plot_name:
        lines += [f"![latency against concurrency]({plot_name})", ""]
    return "\n".join(lines)


def write_files(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write the PNG plot, the JSON report at `out` (naming the plot) and the Markdown beside it; (md, png)."""
    from codefill.jobs.bench.plot import plot_levels

    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    md = out.with_suffix(".md") if out.suffix != ".md" else out.with_name(out.name + ".md")
    names = report["server_names"]
    title = " vs ".join(names) + f" — {report['date']} — {report['machine']['cpus']} CPUs"
    plot_levels(report["levels"], names, png, title)
    report["plot"] = png.name
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown_report(report, png.name), encoding="utf-8")
    return md, png
