"""Prometheus metrics, on a registry per app so several apps (tests) never collide."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "codefill_requests_total", "HTTP API requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "codefill_request_latency_seconds",
            "Time from request to last byte",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "codefill_time_to_first_token_seconds",
            "Time from request to the first generated text",
            ["endpoint"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter("codefill_prompt_tokens_total", "Prompt tokens processed", registry=r)
        self.generated_tokens = Counter("codefill_generated_tokens_total", "Tokens generated", registry=r)
        self.aborted = Counter(
            "codefill_aborted_requests_total",
            "Engine requests aborted (client disconnect, post-processing stop)",
            ["reason"],
            registry=r,
        )
        self.engine_restarts = Counter(
            "codefill_engine_restarts_total", "Engines replaced after a failure (--restart-on-failure)", registry=r
        )
        self.http_in_flight = Gauge(
            "codefill_http_requests_in_flight", "API requests being handled", registry=r
        )
        self.engine_in_flight = Gauge(
            "codefill_engine_requests_in_flight", "Requests the engine holds (queued or running)", registry=r
        )

    def track_engine(self, in_flight: Callable[[], int]) -> None:
        self.engine_in_flight.set_function(lambda: float(in_flight()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
