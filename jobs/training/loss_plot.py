"""The loss curve as a PNG: each optimizer step's loss and a moving average, with the held-out losses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

LOSS_PLOT = "loss.png"


def moving_average(values: Sequence[float], window: int) -> list[float]:
    out: list[float] = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def write_loss_plot(
    path: str | os.PathLike[str],
    steps: Sequence[int],
    losses: Sequence[float],
    *,
    title: str,
    eval_before: float | None = None,
    eval_after: float | None = None,
    resumed_at: Sequence[int] = (),
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a training box
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    try:
        if steps:
            ax.plot(steps, losses, color="#9ecae1", linewidth=1, label="training loss (per step)")
            window = max(1, len(losses) // 20)
            if window > 1:
                ax.plot(steps, moving_average(losses, window), color="#08519c", linewidth=2,
                        label=f"moving average ({window} steps)")
        for label, value, style in (("held-out loss before", eval_before, "--"),
                                    ("held-out loss after", eval_after, ":")):
            if value is not None:
                ax.axhline(value, color="#d94801", linestyle=style, linewidth=1.5, label=f"{label}: {value:.3f}")
        for i, step in enumerate(resumed_at):
            ax.axvline(step, color="grey", linestyle="-.", linewidth=1, label="resumed" if i == 0 else None)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss on the middle (nats/token)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = Path(path)
        tmp = out.with_name(out.stem + ".tmp.png")
        fig.savefig(tmp)
        os.replace(tmp, out)
        return out
    finally:
        plt.close(fig)
