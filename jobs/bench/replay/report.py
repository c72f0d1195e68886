"""The replay's figures per client, and the JSON, Markdown and PNG they go into.

Acceptance is counted the way editors count it: of the suggestions shown (arrived,
right to show, not blank), the share the user was about to type whole, or at least
its first line; accepted characters per 100 characters the user meant to type; and
the stale rate: of the answers that arrived with a suggestion, the share that was
wrong to show. Outdated answers (right for a text the editor had since it asked, but
late: the editor drops them, codefill.jobs.bench.replay.judge) are counted apart and
are in neither side of the stale rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codefill.jobs.bench.replay.session import SessionResult
from codefill.jobs.bench.stats import percentile

POSITION_BINS = 5
OUTCOMES = ("shown", "stale", "outdated", "empty", "cancelled", "failed", "unanswered")
LSP_STAT_KEYS = ("requests", "sent", "cancelled", "superseded", "cache_hits", "typed_ahead_hits", "skipped",
                 "failed", "empty", "stale_dropped", "stale_adjusted", "shown")


def _rate(n: float, d: float) -> float | None:
    return round(n / d, 4) if d else None


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def engine_figures(counters: Mapping[str, float] | None, sent: int | None = None) -> dict[str, Any]:
    """What the engine did for one client, from its /metrics counters (None: no /metrics).

    Per request means per HTTP request that reached the server (`sent`): vLLM counts
    a request it aborts (the client went away) in no request counter, but every prompt
    it scheduled in its prefix-cache queries, so queries less hits is what it computed."""
    c = dict(counters or {})
    queries, hits = c.get("prefix_cache_queries"), c.get("prefix_cache_hits", 0.0)
    per = bool(sent) and queries is not None
    return {
        "requests_sent": sent,
        "prefix_cache_hit_rate": _rate(hits, queries or 0),
        "prompt_tokens_per_request": _round(queries / sent, 1) if per else None,
        "prefilled_tokens_per_request": _round((queries - hits) / sent, 1) if per else None,
        "counters": {k: round(v, 1) for k, v in c.items()},
    }


def client_figures(results: Sequence[SessionResult], lsp_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    asks = [a for r in results for a in r.asks]
    count = {o: sum(a.outcome == o for a in asks) for o in OUTCOMES}
    shown = [a for a in asks if a.outcome == "shown"]
    latency = sorted(a.latency_s for a in shown if a.latency_s is not None)
    answers = sorted(a.latency_s for a in asks
                     if a.outcome in ("shown", "stale", "outdated", "empty") and a.latency_s is not None)
    typed = sum(r.typed_chars for r in results)
    accepted_chars = sum(r.accepted_chars for r in results)
    counters = _summed([r.engine for r in results if r.engine])
    after_first = _summed([r.engine_after_first for r in results if r.engine_after_first])
    sent = sum(r.sent for r in results if r.sent is not None) if any(r.sent is not None for r in results) else None
    if lsp_stats is None and any(r.lsp for r in results):
        lsp_stats = _summed([r.lsp for r in results if r.lsp])
    figures: dict[str, Any] = {
        "sessions": len(results),
        "typed_chars": typed,
        "keystrokes": sum(r.keystrokes for r in results),
        "wall_s": round(sum(r.wall_s for r in results), 1),
        "documents_intact": sum(r.final_ok for r in results),
        "requests": len(asks),
        **count,
        **{f"latency_p{q}_s": _round(percentile(latency, q)) for q in (50, 95, 99)},
        **{f"answer_latency_p{q}_s": _round(percentile(answers, q)) for q in (50, 95)},
        "accepted": sum(a.accepted for a in asks),
        "whole_rate": _rate(sum(a.whole for a in shown), len(shown)),
        "first_line_rate": _rate(sum(a.first_line for a in shown), len(shown)),
        "accepted_chars": accepted_chars,
        "accepted_chars_per_100": _round(100 * accepted_chars / typed, 2) if typed else None,
        "stale_rate": _rate(count["stale"], count["stale"] + count["shown"]),
        "by_position": by_position(results),
        "engine": engine_figures(counters if any(r.engine is not None for r in results) else None, sent),
    }
    if after_first:
        figures["engine"]["prefix_cache_hit_rate_after_first"] = engine_figures(after_first)["prefix_cache_hit_rate"]
    if lsp_stats is not None:
        figures["lsp"] = dict(lsp_stats)
    return figures


def _summed(stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for one in stats:
        for k, v in one.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
    return out


def by_position(results: Sequence[SessionResult], bins: int = POSITION_BINS) -> list[dict[str, Any]]:
    """Shown suggestions and the share typed whole, by how far into the session's text they came."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        shown = [a for r in results for a in r.asks
                 if a.outcome == "shown" and (lo <= a.position < hi or (b == bins - 1 and a.position >= hi))]
        out.append({"from": lo, "to": hi, "shown": len(shown), "whole_rate": _rate(sum(a.whole for a in shown),
                                                                                   len(shown))})
    return out


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


ROWS: tuple[tuple[str, str, Any], ...] = (
    ("keystroke → suggestion p50 (s)", "latency_p50_s", ".2f"),
    ("keystroke → suggestion p95 (s)", "latency_p95_s", ".2f"),
    ("keystroke → suggestion p99 (s)", "latency_p99_s", ".2f"),
    ("requests (at pauses)", "requests", None),
    ("suggestions shown", "shown", None),
    ("stale (wrong to show)", "stale", None),
    ("outdated (late: dropped by the editor)", "outdated", None),
    ("answered empty", "empty", None),
    ("cancelled (superseded)", "cancelled", None),
    ("failed", "failed", None),
    ("whole suggestion typed next", "whole_rate", "pct"),
    ("first line typed next", "first_line_rate", "pct"),
    ("accepted characters per 100 typed", "accepted_chars_per_100", ".1f"),
    ("stale rate", "stale_rate", "pct"),
    ("documents intact at the end", "documents_intact", None),
)
ENGINE_ROWS = (
    ("requests that reached the server", "requests_sent", None),
    ("prefix-cache hit rate (vLLM)", "prefix_cache_hit_rate", "pct"),
    ("… after each file's first request", "prefix_cache_hit_rate_after_first", "pct"),
    ("prompt tokens per request", "prompt_tokens_per_request", ".0f"),
    ("tokens prefilled per request", "prefilled_tokens_per_request", ".0f"),
)


def _cell(figures: Mapping[str, Any], key: str, spec: Any) -> str:
    value = figures.get(key)
    return _pct(value) if spec == "pct" else _fmt(value, spec or "")


def figures_table(report: Mapping[str, Any]) -> str:
    names = report["client_names"]
    clients = report["clients"]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key, spec in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(clients[n], key, spec) for n in names) + " |")
    for label, key, spec in ENGINE_ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(clients[n]["engine"], key, spec) for n in names) + " |")
    return "\n".join(lines)


def lsp_table(report: Mapping[str, Any]) -> str | None:
    rows = [(n, f["lsp"]) for n, f in report["clients"].items() if f.get("lsp")]  # codefill.stats, summed
    if not rows:
        return None
    keys = [k for k in LSP_STAT_KEYS if any(k in s for _, s in rows)]
    keys += sorted({k for _, s in rows for k in s} - set(keys))
    lines = ["| counter | " + " | ".join(n for n, _ in rows) + " |", "|---|" + "---|" * len(rows)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(_fmt(s.get(k)) for _, s in rows) + " |")
    return "\n".join(lines)


def summary_text(report: Mapping[str, Any]) -> str:
    return figures_table(report)


def markdown_report(report: Mapping[str, Any], plot_name: str | None) -> str:
    s = report["settings"]
    out = [
        f"# codefill bench replay — {report['date']}",
        "",
        f"`{report['command']}`",
        "",
        f"{report['machine']['cpus']} CPUs, {report['machine']['platform']}. {len(report['sessions'])} edit sessions "
        f"({', '.join(f'{k}: {v}' for k, v in report['languages'].items())}), {s['rhythm']} rhythm at speed "
        f"{s['typing_speed']}, a request at every pause of at least {s['debounce_ms']} ms, "
        f"{'acceptance on' if s['accept'] else 'acceptance off (counted only)'}; clients interleaved session by "
        f"session, the first alternating. Wall time {report['wall_time_s']} s.",
        "",
        figures_table(report),
        "",
    ]
    lsp = lsp_table(report)
    if lsp:
        out += ["Counters of the language server (`codefill.stats`, over the whole run):", "", lsp, ""]
    if plot_name:
        out += [f"![latency and acceptance]({plot_name})", ""]
    out += ["Clients:", ""]
    out += [f"- **{c['name']}**: {c['how']}" for c in report["client_list"]]
    out += ["", "Histories (edit sessions from consecutive released versions):", ""]
    out += [f"- {h}" for h in report["histories"]]
    out += ["", "Latency: from the key before a pause to a suggestion right to show. Whole / first line: of the "
            "suggestions shown, the share the user was about to type (whole, or its first line). Stale: answers "
            "that arrived with a suggestion wrong to show against the document as it was then (the range does not "
            "end at the cursor, or the text it covers is not the start of insertText) and against every text the "
            "editor had since it asked. Outdated: answers right for a text the editor had since it asked, arrived "
            "after the user typed on (they crossed a keystroke on the way); the editor knows its document changed and "
            "drops them, so they are neither shown nor stale. The engine's figures are "
            "vLLM's own counters from /metrics, over each client's turns.", ""]
    return "\n".join(out)


def plot(report: Mapping[str, Any], samples: Mapping[str, Sequence[float]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none wanted
    import matplotlib.pyplot as plt

    names = report["client_names"]
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, name in enumerate(names):
        values = sorted(samples.get(name) or [])
        if values:
            ys = [(k + 1) / len(values) for k in range(len(values))]
            left.step(values, ys, where="post", color=colors[i % len(colors)], label=f"{name} (n={len(values)})")
    left.set_xlabel("keystroke → suggestion (s)")
    left.set_ylabel("share of suggestions shown")
    left.set_title("latency distribution", fontsize=10)
    left.set_ylim(0, 1.02)
    left.set_xlim(left=0)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        bins = report["clients"][name]["by_position"]
        xs = [b + (i - (len(names) - 1) / 2) * width for b in range(len(bins))]
        right.bar(xs, [100 * (b["whole_rate"] or 0) for b in bins], width=width, color=colors[i % len(colors)],
                  label=name)
    bins = report["clients"][names[0]]["by_position"] if names else []
    right.set_xticks(range(len(bins)), [f"{int(100 * b['from'])}-{int(100 * b['to'])}%" for b in bins])
    right.set_xlabel("position in the typed text when asked")
    right.set_ylabel("whole suggestion typed next (%)")
    right.set_title("acceptance against typing position", fontsize=10)
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"codefill bench replay — {report['date']} — {report['machine']['cpus']} CPUs", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_files(report: dict[str, Any], latencies: Mapping[str, Sequence[float]], out: Path) -> tuple[Path, Path]:
    """Write the PNG plot, the JSON report at `out` (naming the plot) and the Markdown beside it; (md, png)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    md = out.with_suffix(".md") if out.suffix != ".md" else out.with_name(out.name + ".md")
    plot(report, latencies, png)
    report["plot"] = png.name
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown_report(report, png.name), encoding="utf-8")
    return md, png
