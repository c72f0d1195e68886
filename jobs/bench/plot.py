"""Latency, time to first token and throughput against concurrency, one line per server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_levels(levels: Sequence[dict[str, Any]], servers: Sequence[str], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none wanted
    import matplotlib.pyplot as plt

    xs = [lv["concurrency"] for lv in levels]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = (
        ("latency", "total latency (s)", "latency_p50_s", "latency_p95_s"),
        ("ttft", "time to first token (s)", "ttft_p50_s", "ttft_p95_s"),
    )
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for ax, (_, label, p50, p95) in zip(axes, panels):
        for i, name in enumerate(servers):
            c = colors[i % len(colors)]
            ax.plot(xs, [lv[name][p50] for lv in levels], "o-", color=c, label=f"{name} p50")
            ax.plot(xs, [lv[name][p95] for lv in levels], "s--", color=c, alpha=0.7, label=f"{name} p95")
        ax.set_ylabel(label)
    ax = axes[2]
    for i, name in enumerate(servers):
        ax.plot(xs, [lv[name]["tokens_per_s"] for lv in levels], "o-", color=colors[i % len(colors)], label=name)
    ax.set_ylabel("generated tokens/s")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("concurrent requests")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
