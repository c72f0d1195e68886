"""The reports of `codefill eval fim`: its tables per language and layout, the floor check
(default below a baseline), the cases post-processing lost, and the Markdown report; and the
table of sources `codefill eval fim-prepare` prints.

Apart from running the eval (`codefill.jobs.evaluation.fim_run`) because these only read a finished report
and send nothing.
"""

from __future__ import annotations

import json
from typing import Any

from codefill.jobs.evaluation.reports import command_block, fmt, md_cell


def _rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(language, layout) rows present in the summary: each language's layouts and "all", then all languages."""
    from codefill.jobs.evaluation.fim import LAYOUTS
    from codefill.jobs.evaluation.fim_sources import LANGUAGES

    table = next(iter(report["summary"].values()), {})
    languages = [x for x in LANGUAGES if x in table] + [x for x in table if x not in LANGUAGES and x != "all"]
    rows = []
    for language in [*languages, "all"]:
        layouts = table.get(language, {})
        rows += [(language, x) for x in LAYOUTS if x in layouts]
        if len([x for x in layouts if x != "all"]) > 1:
            rows.append((language, "all"))
    return rows


def metric_table(report: dict[str, Any], metric: str, spec: str = ".3f", line_only: bool = False) -> str:
    """One row per language and layout, one column per variant (`line_only`: the line layouts'
    rows, and "all" rows that count their line cases only)."""
    names = [v["name"] for v in report["variants"]]
    out = ["| language | layout | cases | " + " | ".join(names) + " |",
           "|---|---|---:|" + "---:|" * len(names)]
    for language, layout in _rows(report):
        if line_only and layout == "block":
            continue
        cells = [report["summary"][n].get(language, {}).get(layout, {}) for n in names]
        if line_only and all(c.get(metric) is None for c in cells):
            continue
        cases = cells[0].get("line_cases" if line_only else "cases", 0) if cells else 0
        out.append(f"| {language} | {layout} | {cases} | " + " | ".join(fmt(c.get(metric), spec) for c in cells) + " |")
    return "\n".join(out)


def summary_table(report: dict[str, Any]) -> str:
    names = [v["name"] for v in report["variants"]]
    return "\n".join([
        "exact match",
        "",
        metric_table(report, "exact_match"),
        "",
        "first-line exact match (Qwen's HumanEval-FIM rule; line layouts)",
        "",
        metric_table(report, "first_line_match", line_only=True),
        "",
        f"model: {report['server']['model']}  ·  variants: {', '.join(names)}  ·  cases: {report['cases']}  ·  "
        f"wall time: {report['wall_time_s']:.1f} s",
    ])


def floor_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows where `default` exact match is below a baseline's exact match or first-line match
    (postprocess-off and raw variants): the floor the default must never go under."""
    names = [v["name"] for v in report["variants"]]
    if "default" not in names:
        return []
    baselines = [n for n in names if n == "postprocess-off" or n.startswith("raw-")]
    rows = []
    for language, layout in _rows(report):
        d = report["summary"]["default"].get(language, {}).get(layout)
        if not d or d["exact_match"] is None:
            continue
        for b in baselines:
            s = report["summary"][b].get(language, {}).get(layout) or {}
            for metric in ("exact_match", "first_line_match"):
                ref = s.get(metric)
                # The first-line rule counts line cases only: so does the default's side of it.
                mine = d.get("line_exact_match", d["exact_match"]) if metric == "first_line_match" else d["exact_match"]
                if ref is not None and mine is not None and mine < ref - 1e-9:
                    rows.append({"language": language, "layout": layout, "default": mine,
                                 "baseline": b, "metric": metric, "value": ref})
    return rows


def lost_cases(report: dict[str, Any], limit: int = 40) -> list[dict[str, Any]]:
    """Cases the default got wrong that postprocess-off got right (exact, or by the first-line rule)."""
    names = [v["name"] for v in report["variants"]]
    if "default" not in names or "postprocess-off" not in names:
        return []
    out = []
    for r in report["results"]:
        d, off = r["default"], r["postprocess-off"]
        if not d["exact_match"] and (off["exact_match"] or off["first_line_match"]):
            out.append(r)
    return out[:limit] if limit else out


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    data = report["data"]
    lines = [
        f"# FIM benchmark — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']}",
        f"- cases: {report['cases']} ({st['limit_per_language']} per language over {', '.join(st['layouts'])}; "
        f"seed {st['seed']}); prefix {st['prefix_chars']} / suffix {st['suffix_chars']} characters",
        f"- greedy (temperature 0), max_tokens {json.dumps(st['max_tokens'])}, concurrency {st['concurrency']}",
        "- variants:",
        *[f"  - `{v['name']}` ({v['model']} at {v['url']}): `{json.dumps(v['request'], ensure_ascii=False)}`"
          for v in report["variants"]],
        "",
        *command_block(report["command"]),
        "",
    ]
    if data.get("source") == "pinned":
        lines += ["## Sources", "", "| language | package | version | registry | sha256 | files |",
                  "|---|---|---|---|---|---:|"]
        for p in data["packages"]:
            lines.append(f"| {p['language']} | {p['name']} | {p['version']} | {p['registry']} | "
                         f"`{p['sha256'][:16]}…` | {p['files']} |")
        lines.append("")
    else:
        lines += [f"Sources: {data.get('source')} `{data.get('path')}`", ""]
    sections = [
        ("Exact match", "exact_match", ".3f", False),
        ("First-line exact match (Qwen's HumanEval-FIM rule, line layouts)", "first_line_match", ".3f", True),
        ("Exact match on the line layouts (the cases of the first-line rule)", "line_exact_match", ".3f", True),
        ("Edit similarity", "edit_similarity", ".3f", False),
        ("Empty completions (rate)", "empty_rate", ".3f", False),
        ("Mean completion length (characters)", "mean_chars", ".1f", False),
        ("Mean completion tokens", "mean_completion_tokens", ".1f", False),
        ("Latency p50 (s)", "latency_p50_s", ".3f", False),
    ]
    for title, metric, spec, line_only in sections:
        lines += [f"## {title}", "", metric_table(report, metric, spec, line_only), ""]
    floor = floor_rows(report)
    if any(v["name"] == "default" for v in report["variants"]) and len(report["variants"]) > 1:
        lines += ["## Floor: default below a baseline", ""]
        if floor:
            lines += ["| language | layout | default EM (on the line cases, against first_line_match) | baseline "
                      "| its metric | value |",
                      "|---|---|---:|---|---|---:|"]
            lines += [f"| {r['language']} | {r['layout']} | {r['default']:.3f} | {r['baseline']} | {r['metric']} "
                      f"| {r['value']:.3f} |" for r in floor]
        else:
            lines.append("None: default is at or above every baseline's exact and first-line match on every row.")
        lines.append("")
    lost = lost_cases(report, limit=0)
    if lost:
        lines += [f"## Lost by default ({len(lost)}; postprocess-off right)", "",
                  "| case | middle | default | postprocess-off |", "|---|---|---|---|"]
        for r in lost[:60]:
            lines.append(f"| {md_cell(r['id'], 90)} | `{md_cell(r['middle'], 60)}` | "
                         f"`{md_cell(r['default']['completion'], 60)}` | "
                         f"`{md_cell(r['postprocess-off']['completion'], 60)}` |")
        lines.append("")
    return "\n".join(lines)


def sources_table(files: list[Any], data: dict[str, Any]) -> str:
    """Files and lines per pinned package (language order, then name), as `eval fim-prepare` prints them."""
    from collections import Counter

    from codefill.jobs.evaluation.fim_sources import LANGUAGES

    by_package = Counter((f.language, f.package) for f in files)
    lines = Counter()
    for f in files:
        lines[(f.language, f.package)] += f.text.count("\n")
    rows = ["| language | package | version | registry | files | lines |", "|---|---|---|---|---:|---:|"]
    versions = {(p["language"], p["name"]): p for p in data.get("packages", [])}
    for (language, package), n in sorted(by_package.items(), key=lambda kv: (LANGUAGES.index(kv[0][0])
                                                                            if kv[0][0] in LANGUAGES else 99,
                                                                            kv[0][1])):
        pin = versions.get((language, package), {})
        rows.append(f"| {language} | {package} | {pin.get('version', '-')} | {pin.get('registry', '-')} | {n} "
                    f"| {lines[(language, package)]} |")
    return "\n".join(rows)
