"""What the routes share: the configuration, the engine and its readiness."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from codefill.model.engines import Engine, EngineError
from codefill.server.errors import APIError
from codefill.server.limits import Limits
from codefill.server.metrics import Metrics
from codefill.server.priorities import engine_slots, server_admission

log = logging.getLogger("codefill.server")

T = TypeVar("T")

# Building a prompt (chat template, tokenizing, fitting a FIM prompt) runs in these threads,
# never on the event loop: a multi-megabyte request tokenizes for seconds, and meanwhile
# the loop answers /health and streams everybody else's tokens. Two bounded pools, so that
# everyday requests never queue behind large ones: requests up to SMALL_PREP_CHARS
# characters have their own lane. Each lane queues at most --max-queued-prompts jobs beyond
# its threads; past that a request is refused at once (503 + Retry-After), so a flood of
# big requests cannot pile up work (and their bodies) without limit.
SMALL_PREP_CHARS = 100_000
PREP_THREADS = max(2, min(4, os.cpu_count() or 2))
LARGE_PREP_THREADS = max(1, min(2, (os.cpu_count() or 2) // 2))
SMALL_LANE = "small"
LARGE_LANE = "large"


class PromptLane:
    """A pool of prompt threads with a bound on the jobs waiting for one of them.

    A job counts from its submission until it has run or was cancelled while still waiting
    (a client that went away before its turn frees its place at once); one that is running
    when its client leaves counts until it is done, since its thread is busy until then.
    """

    def __init__(self, name: str, threads: int, max_waiting: int, thread_name_prefix: str) -> None:
        self.name = name
        self.threads = threads
        self.max_waiting = max_waiting  # 0: no bound
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._outstanding = 0  # submitted, not yet finished or cancelled

    def waiting(self) -> int:
        """Jobs queued for a thread (not yet running, as far as the count can tell)."""
        with self._lock:
            return max(0, self._outstanding - self.threads)

    def submit(self, fn: Callable[[], T]) -> Future[T] | None:
        """The job's future, or None when the queue is full (nothing was queued)."""
        with self._lock:
            if self.max_waiting and self._outstanding >= self.threads + self.max_waiting:
                return None
            self._outstanding += 1
        job = _Job(fn)
        try:
            future = self._pool.submit(job)
        except BaseException:
            self._finished()
            raise

        def done(f: Future) -> None:
            if f.cancelled():
                job.fn = None  # the executor's queue keeps the item until a thread skips it: not its request
            self._finished()

        future.add_done_callback(done)
        return future

    def _finished(self) -> None:
        with self._lock:
            self._outstanding -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Job:
    """A queued call that lets go of its arguments (a request's text) once cancelled."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn: Callable[[], Any] | None = fn

    def __call__(self) -> Any:
        fn, self.fn = self.fn, None
        assert fn is not None
        return fn()


@dataclass
class ServerConfig:
    served_model_name: str
    model_path: str
    fim_template: str | None = None  # None: detect from the tokenizer
    fim_fallback: str = "none"  # "none" | "instruct"
    default_temperature: float = 0.0
    fim_max_time_ms: int = 0  # the time budget of a FIM request that sets none (0: none)
    # repr=False: a logged or printed config must never show a key.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    extra_model_names: tuple[str, ...] = field(default_factory=tuple)
    # LoRA adapter name -> its folder; clients pick one with `model`, like a model of its own.
    loras: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # Replace a dead engine with a fresh one (same configuration); see server/engine_supervisor.py.
    restart_on_failure: bool = False
    # Priorities (server/priorities.py): FIM ahead of chat and batch work; off: arrival order.
    priorities: bool = True
    max_running: int | None = None  # engine requests at once; None: the engine's own (vLLM's max_num_seqs)
    # /v1/next_edit's prompt format (model/templates/next_edit.py); None: from the model (Zeta's, or ours).
    next_edit_format: str | None = None


class ServingState:
    """The engine and everything derived from its tokenizer, once it is up."""

    def __init__(
        self,
        config: ServerConfig,
        engine: Engine,
        metrics: Metrics | None = None,
        engine_factory: Callable[[], Engine] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        # Builds a fresh engine with the same configuration, for restarts after a failure.
        self.engine_factory = engine_factory
        self.metrics = metrics or Metrics()
        self.ready = False
        self.load_error: BaseException | None = None
        # Set by the engine supervisor while a failed engine is being replaced.
        self.restarting = False
        self.restart_error: BaseException | None = None
        self.fim_template: Any = None
        self.stop_token_ids: tuple[int, ...] = ()
        self._start_task: asyncio.Task | None = None
        self.metrics.track_engine(self._engine_in_flight)
        self.admission = server_admission(config.max_running, self.metrics)
        queued = config.limits.max_queued_prompts
        self._prep_lane = PromptLane(SMALL_LANE, PREP_THREADS, queued, "codefill-prompt")
        self._large_prep_lane = PromptLane(LARGE_LANE, LARGE_PREP_THREADS, queued, "codefill-prompt-large")
        for lane in (self._prep_lane, self._large_prep_lane):
            self.metrics.track_prompt_queue(lane.name, lane.waiting)

    async def prepare(self, fn: Callable[..., T], *args: Any, chars: int = 0) -> T:
        """Run prompt building `fn(*args)` in a prompt thread (a large request in the large
        lane), so the event loop never waits on a tokenizer. A full lane refuses the request
        at once: 503 `prompt_queue_full` with Retry-After."""
        lane = self._large_prep_lane if chars > SMALL_PREP_CHARS else self._prep_lane
        future = lane.submit(functools.partial(fn, *args))
        if future is None:
            self.metrics.prompt_queue_full.labels(lane.name).inc()
            raise self.config.limits.prompt_queue_full(lane.name, SMALL_PREP_CHARS)
        return await asyncio.wrap_future(future)

    def _engine_in_flight(self) -> int:
        try:
            return self.engine.num_in_flight() if self.ready else 0
        except Exception:  # noqa: BLE001 - a metrics scrape must never fail
            return 0

    async def start(self) -> None:
        try:
            await self.engine.start()
            self.admission.set_slots(engine_slots(self.config.max_running, self.engine))
            self._prepare_templates()
            await self.prepare_encoders(self.engine)
            self.ready = True
            log.info("codefill ready: serving %s", self.config.served_model_name)
        except BaseException as exc:
            self.load_error = exc
            log.exception("engine failed to start")
            raise

    def start_in_background(self) -> None:
        self._start_task = asyncio.create_task(self._start_quietly())

    async def _start_quietly(self) -> None:
        try:
            await self.start()
        except Exception:  # noqa: BLE001 - reported through /health
            pass

    async def prepare_encoders(self, engine: Engine) -> None:
        """The tokenizer copies prompts are encoded with (model/templates/encoding.py), made in a
        prompt thread before the engine serves, not by its first request."""
        from codefill.model.templates.encoding import prepare_encoders

        await self.prepare(prepare_encoders, engine.tokenizer, chars=0)

    def install_engine(self, engine: Engine) -> None:
        """Serve from a freshly started engine (after a restart) from the next request on."""
        self.engine = engine
        self.admission.set_slots(engine_slots(self.config.max_running, engine))
        self._prepare_templates()

    def health(self) -> tuple[int, dict[str, Any]]:
        """The status code and body of /health."""
        if self.load_error is not None:
            return 503, {"status": "failed", "error": str(self.load_error)}
        if not self.ready:
            return 503, {"status": "loading"}
        if self.restarting:
            body: dict[str, Any] = {"status": "restarting", "error": "the engine failed; a new one is starting"}
            if self.restart_error is not None:
                body["last_restart_error"] = str(self.restart_error)
            return 503, body
        if not self.engine.is_healthy():
            hint = ("" if self.config.restart_on_failure
                    else "; restart the server (or run it with --restart-on-failure)")
            return 503, {"status": "unhealthy", "error": f"the engine has failed{hint}"}
        return 200, {"status": "ok", "model": self.config.served_model_name, "engine": self.engine.name}

    def _prepare_templates(self) -> None:
        from codefill.model.templates.fim import detect_fim_template, get_fim_template, stop_token_ids

        tok = self.engine.tokenizer
        if self.config.fim_template:
            self.fim_template = get_fim_template(self.config.fim_template)
        else:
            self.fim_template = detect_fim_template(tok)
        if self.fim_template is not None:
            self.stop_token_ids = tuple(stop_token_ids(tok, self.fim_template))
            log.info("FIM template: %s", self.fim_template.name)
        else:
            log.info("no FIM tokens in this tokenizer; FIM fallback: %s", self.config.fim_fallback)

    async def shutdown(self) -> None:
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
        for lane in (self._prep_lane, self._large_prep_lane):
            lane.shutdown()
        await self.engine.shutdown()

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.config.served_model_name, *self.config.extra_model_names, *self.config.loras)

    def require_ready(self) -> Engine:
        if self.load_error is not None:
            raise APIError(503, f"the model failed to load: {self.load_error}", code="engine_unavailable")
        if not self.ready:
            raise APIError(503, "the model is still loading; retry shortly", code="engine_loading",
                           headers={"Retry-After": "5"})
        if self.restarting:
            raise APIError(503, "the engine failed and is restarting; retry shortly", code="engine_unavailable",
                           headers={"Retry-After": "5"})
        if not self.engine.is_healthy():
            raise APIError(503, "the engine has failed and is not serving", code="engine_unavailable")
        return self.engine

    def check_model(self, name: str) -> str | None:
        """The LoRA adapter a request's `model` names (None: the base model); 404 for a name we do not serve."""
        if name in self.config.loras:
            return name
        if name not in self.model_names:
            raise APIError(
                404,
                f"The model `{name}` does not exist. Available: {', '.join(self.model_names)}",
                code="model_not_found",
                param="model",
            )
        return None


def engine_error_to_api(exc: EngineError) -> APIError:
    return APIError(503, f"the engine failed: {exc}", code="engine_unavailable")
