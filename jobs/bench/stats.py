"""Figures of one server at one concurrency level, and the ratios of two servers."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

PERCENTILES = (50, 95, 99)


@dataclass
class Sample:
    """One request's outcome at one server."""

    server: str
    concurrency: int
    round: int
    request_id: str
    kind: str
    target_tokens: int
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    text: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.latency_s is not None


def percentile(values: Sequence[float], q: float) -> float | None:
    """q-th percentile, linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def level_stats(samples: Sequence[Sample], busy_s: float) -> dict[str, Any]:
    """Latency/TTFT percentiles, requests/s and generated tokens/s over the time the server was busy."""
    ok = [s for s in samples if s.ok]
    lat = [s.latency_s for s in ok]
    ttft = [s.ttft_s for s in ok if s.ttft_s is not None]
    tokens = sum(s.completion_tokens or 0 for s in ok)
    out: dict[str, Any] = {"requests": len(samples), "errors": len(samples) - len(ok)}
    for q in PERCENTILES:
        out[f"latency_p{q}_s"] = percentile(lat, q)
    for q in PERCENTILES:
        out[f"ttft_p{q}_s"] = percentile(ttft, q)
    out.update({
        "busy_s": busy_s,
        "requests_per_s": len(ok) / busy_s if busy_s > 0 else None,
        "tokens_per_s": tokens / busy_s if busy_s > 0 else None,
        "completion_tokens": tokens,
        "mean_completion_tokens": _mean([s.completion_tokens for s in ok if s.completion_tokens is not None]),
        "mean_prompt_tokens": _mean([s.prompt_tokens for s in ok if s.prompt_tokens is not None]),
    })
    # Where the time goes by prompt size: TTFT grows with the prompt, decoding does not.
    by_size: dict[str, Any] = {}
    for size in sorted({s.target_tokens for s in ok}):
        group = [s for s in ok if s.target_tokens == size]
        by_size[str(size)] = {
            "requests": len(group),
            "ttft_p50_s": percentile([s.ttft_s for s in group if s.ttft_s is not None], 50),
            "latency_p50_s": percentile([s.latency_s for s in group], 50),
        }
    out["by_prompt_tokens"] = by_size
    return out


RATIO_KEYS = tuple(f"latency_p{q}_s" for q in PERCENTILES) + tuple(f"ttft_p{q}_s" for q in PERCENTILES) \
    + ("requests_per_s", "tokens_per_s")


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """a / b for each figure: latency ratios above 1 mean a is slower; throughput ratios below 1 too."""
    out: dict[str, float | None] = {}
    for k in RATIO_KEYS:
        x, y = a.get(k), b.get(k)
        out[k] = x / y if x is not None and y else None
    return out


def paired_ratios(a: Sequence[Sample], b: Sequence[Sample]) -> dict[str, float | int | None]:
    """Per-request ratios a/b of the same request at both servers, summarised.

    A mixed workload (a 3-token line next to a 128-token block) makes the
    latency distribution bimodal, so its p50 can jump between the modes on a
    few samples of noise; the median and geometric mean of per-request ratios
    compare like with like."""
    by_id = {s.request_id: s for s in b if s.ok}
    lat, ttft = [], []
    for s in a:
        o = by_id.get(s.request_id)
        if not s.ok or o is None:
            continue
        if o.latency_s:
            lat.append(s.latency_s / o.latency_s)
        if s.ttft_s and o.ttft_s:
            ttft.append(s.ttft_s / o.ttft_s)
    return {
        "pairs": len(lat),
        "latency_median": percentile(lat, 50),
        "latency_geomean": statistics.geometric_mean(lat) if lat else None,
        "ttft_median": percentile(ttft, 50),
    }
