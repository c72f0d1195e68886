"""Prometheus metrics, on a registry per app so several apps (tests) never collide.

/metrics also carries the engine's own metrics: vLLM's Prometheus stat logger puts
them (vllm:prefix_cache_queries, vllm:prefix_cache_hits, vllm:prompt_tokens, ...) on
prometheus_client's global registry, the one vLLM's own server exposes, so the
same names and meanings work against codefill and against raw vLLM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ENGINE_METRIC_PREFIX = "vllm:"

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_QUEUE_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
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
        self.prompt_tokens_cached = Counter(
            "codefill_prompt_tokens_cached_total",
            "Prompt tokens the engine took from its prefix cache (vLLM's num_cached_tokens; the hf engine has none)",
            registry=r,
        )
        self.aborted = Counter(
            "codefill_aborted_requests_total",
            "Engine requests aborted (client disconnect, post-processing stop, time budget)",
            ["reason"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "codefill_queue_wait_seconds",
            "Time an engine request waited for a slot (server/priorities.py; 0 when one was free), by priority "
            "class: high (priority <= 0, FIM's default), normal (chat's 10), low (20 and over: batch work)",
            ["priority_class"],
            buckets=_QUEUE_WAIT_BUCKETS,
            registry=r,
        )
        self.requests_waiting = Gauge(
            "codefill_requests_waiting", "Engine requests waiting for a slot (--max-running)", registry=r
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
        self.open_connections = Gauge(
            "codefill_open_connections", "Open HTTP connections (server/connections.py)", registry=r
        )
        self.connections_dropped = Counter(
            "codefill_connections_dropped_total",
            "Connections the server closed: request head or body not in within --header-timeout or "
            "--body-timeout, or over --max-connections-per-client",
            ["reason"],
            registry=r,
        )
        for reason in ("header_timeout", "body_timeout", "too_many_connections"):
            self.connections_dropped.labels(reason)  # listed at 0 from the start
        self.prompt_queue_full = Counter(
            "codefill_prompt_queue_full_total",
            "Requests refused (503 prompt_queue_full) because their prompt lane already had "
            "--max-queued-prompts prompts waiting to be built, by lane (small: up to 100k characters)",
            ["lane"],
            registry=r,
        )
        self.prompts_waiting = Gauge(
            "codefill_prompts_waiting", "Prompts waiting for a prompt-building thread, by lane", ["lane"], registry=r
        )
        for lane in ("small", "large"):
            self.prompt_queue_full.labels(lane)

    def track_engine(self, in_flight: Callable[[], int]) -> None:
        self.engine_in_flight.set_function(lambda: float(in_flight()))

    def track_prompt_queue(self, lane: str, waiting: Callable[[], int]) -> None:
        self.prompts_waiting.labels(lane).set_function(lambda: float(waiting()))

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(_EngineMetrics())


class _EngineMetrics:
    """The vLLM families of the global registry, and nothing else of it: the global
    registry also holds the process and GC collectors of whatever else runs here."""

    def collect(self) -> Iterator:
        for family in REGISTRY.collect():
            if family.name.startswith(ENGINE_METRIC_PREFIX):
                yield family
