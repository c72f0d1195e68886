"""HfEngine: transformers on one worker thread, for machines without vLLM.

Requests are decoded round-robin, one token per request per turn, each with
its own KV cache. That keeps every stream moving when several editors type at
once (no head-of-line blocking) without a batching scheduler; throughput is
not the point of this engine, correctness and availability are.

LoRA adapters are loaded side by side into one peft model, and each forward
names its request's adapter (peft's `adapter_names`, "__base__" for the base
model), so no shared "active adapter" state can leak from one request into
another's turn.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
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
from codefill.model.engines.lora import LoraAdapter

log = logging.getLogger("codefill.engine.hf")

_REPLACEMENT = "\ufffd"
_PEFT_BASE = "__base__"  # peft's name for "no adapter" in a forward's adapter_names
# Like vLLM: a temperature this small is greedy decoding. Dividing the logits by it
# would overflow to inf and leave no distribution to sample from.
_GREEDY_BELOW = 1e-5


@dataclass
class _Request:
    request_id: str
    prompt_ids: list[int]
    options: SamplingOptions
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    generated: list[int] = field(default_factory=list)
    emitted_chars: int = 0
    past: Any = None
    generator: Any = None
    hidden_tokens: int = 0
    aborted: bool = False
    done: bool = False

    @property
    def completion_tokens(self) -> int:
        return len(self.generated) + self.hidden_tokens


class HfEngine(LoadedParts, Engine):
    name = "hf"

    def __init__(
        self,
        model_path: str,
        *,
        max_model_len: int | None = None,
        dtype: str = "auto",
        device: str | None = None,
        loras: Sequence[LoraAdapter] = (),
    ) -> None:
        self._model_path = model_path
        self._loras = {a.name: a for a in loras}
        self._max_model_len = max_model_len
        self._dtype = dtype
        self._device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._info: EngineInfo | None = None
        self._inbox: queue.Queue[_Request] = queue.Queue()
        self._requests: dict[str, _Request] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        self._thread = threading.Thread(target=self._run, name="codefill-hf-engine", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self._dtype == "auto":
            # bf16 matmuls are slow on CPUs without AVX512-BF16; fp32 is the safe choice.
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, self._dtype)
        self._tokenizer = AutoTokenizer.from_pretrained(self._model_path)
        self._model = AutoModelForCausalLM.from_pretrained(self._model_path, dtype=dtype)
        if self._loras:
            self._model = _with_adapters(self._model, list(self._loras.values()))
        self._model.to(device).eval()
        self._torch = torch
        self._device_name = device
        config_len = getattr(self._model.config, "max_position_embeddings", None) or 2048
        max_len = min(self._max_model_len or config_len, config_len)
        self._eos_ids = _eos_ids(self._model, self._tokenizer)
        self._info = EngineInfo(
            model_path=self._model_path,
            max_model_len=int(max_len),
            engine=self.name,
            details={"dtype": str(dtype), "device": device, "loras": sorted(self._loras)},
        )
        log.info("transformers engine ready: %s on %s", self._model_path, device)

    async def shutdown(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None

    async def generate(
        self,
        prompt_token_ids: Sequence[int],
        options: SamplingOptions,
        request_id: str,
    ) -> AsyncIterator[Delta]:
        if not self.is_healthy():
            raise EngineError("the transformers engine is not running")
        if options.max_tokens < 1:
            raise EngineRequestError("max_tokens must be at least 1")
        if options.lora is not None and options.lora not in self._loras:
            raise EngineRequestError(f"unknown LoRA adapter {options.lora!r}; this engine serves "
                                     f"{', '.join(sorted(self._loras)) or 'none'}")
        if len(prompt_token_ids) + options.max_tokens > self.info.max_model_len:
            raise EngineRequestError(
                f"prompt ({len(prompt_token_ids)} tokens) + max_tokens ({options.max_tokens}) "
                f"exceeds the model's context of {self.info.max_model_len} tokens"
            )
        req = _Request(
            request_id=request_id,
            prompt_ids=list(prompt_token_ids),
            options=options,
            loop=asyncio.get_running_loop(),
            out=asyncio.Queue(),
        )
        with self._lock:
            if request_id in self._requests:
                raise EngineRequestError(f"request id {request_id!r} is already running")
            self._requests[request_id] = req
        self._inbox.put(req)
        self._wake.set()
        try:
            while True:
                item = await req.out.get()
                if isinstance(item, BaseException):
                    raise EngineError(f"generation failed: {item}") from item
                yield item
                if item.finished:
                    return
        finally:
            if not req.done:
                req.aborted = True
                self._wake.set()

    async def abort(self, request_id: str) -> None:
        with self._lock:
            req = self._requests.get(request_id)
        if req is not None:
            req.aborted = True
            self._wake.set()

    def num_in_flight(self) -> int:
        with self._lock:
            return len(self._requests)

    def is_healthy(self) -> bool:
        return (
            self._model is not None
            and self._failed is None
            and self._thread is not None
            and self._thread.is_alive()
        )

    # --- worker thread -------------------------------------------------

    def _run(self) -> None:
        active: list[_Request] = []
        try:
            with self._torch.inference_mode():
                while not self._stopping:
                    while True:
                        try:
                            active.append(self._inbox.get_nowait())
                        except queue.Empty:
                            break
                    if not active:
                        self._wake.wait(0.5)
                        self._wake.clear()
                        continue
                    for req in list(active):
                        if req.aborted:
                            self._finish(req, "abort")
                        else:
                            try:
                                self._step(req)
                            except Exception as exc:  # noqa: BLE001 - one bad request must not kill the rest
                                log.exception("request %s failed", req.request_id)
                                self._deliver(req, exc)
                                self._release(req)
                        if req.done:
                            active.remove(req)
        except BaseException as exc:  # noqa: BLE001
            self._failed = exc
            log.exception("transformers engine worker died")
            for req in active:
                self._deliver(req, exc)
                self._release(req)

    def _step(self, req: _Request) -> None:
        torch = self._torch
        if req.past is None:
            input_ids = torch.tensor([req.prompt_ids], device=self._device_name)
            if req.options.seed is not None:
                req.generator = torch.Generator(device="cpu").manual_seed(req.options.seed)
        else:
            input_ids = torch.tensor([[req.generated[-1]]], device=self._device_name)
        extra = {"adapter_names": [req.options.lora or _PEFT_BASE]} if self._loras else {}
        out = self._model(input_ids=input_ids, past_key_values=req.past, use_cache=True, **extra)
        req.past = out.past_key_values
        token = self._sample(out.logits[0, -1].float(), req)
        opts = req.options
        if token in opts.stop_token_ids or (not opts.ignore_eos and token in self._eos_ids):
            # Counted like vLLM does: the stop token was generated, it is just not shown.
            req.hidden_tokens += 1
            self._finish(req, "stop")
            return
        req.generated.append(token)
        text = self._tokenizer.decode(req.generated, skip_special_tokens=True)
        stop_at = _find_stop(text, opts.stop, max(0, req.emitted_chars - _longest(opts.stop)))
        if stop_at is not None:
            self._emit(req, text[:stop_at])
            self._finish(req, "stop")
            return
        if len(req.generated) >= opts.max_tokens:
            self._emit(req, text)
            self._finish(req, "length")
            return
        # Hold back a possible partial stop string or an unfinished UTF-8 sequence.
        safe = len(text) - max(0, _longest(opts.stop) - 1)
        while safe > 0 and text[safe - 1] == _REPLACEMENT:
            safe -= 1
        if safe > req.emitted_chars:
            self._emit(req, text[:safe])

    def _sample(self, logits: Any, req: _Request) -> int:
        torch = self._torch
        temperature = req.options.temperature
        if temperature < _GREEDY_BELOW:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / temperature, dim=-1)
        top_p = req.options.top_p
        if top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
            # The likeliest token always stays: a top_p below float32's smallest number (1e-300
            # is a valid top_p) would keep none, and sampling from nothing fails.
            keep[0] = True
            sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
            choice = torch.multinomial(sorted_probs.cpu(), 1, generator=req.generator)
            return int(order[int(choice)])
        return int(torch.multinomial(probs.cpu(), 1, generator=req.generator))

    def _emit(self, req: _Request, text_so_far: str) -> None:
        new = text_so_far[req.emitted_chars :]
        if not new:
            return
        req.emitted_chars = len(text_so_far)
        self._deliver(req, Delta(new, len(req.prompt_ids), req.completion_tokens))

    def _finish(self, req: _Request, reason: str) -> None:
        self._deliver(req, Delta("", len(req.prompt_ids), req.completion_tokens, reason))  # type: ignore[arg-type]
        self._release(req)

    def _release(self, req: _Request) -> None:
        req.done = True
        req.past = None
        with self._lock:
            self._requests.pop(req.request_id, None)

    @staticmethod
    def _deliver(req: _Request, item: Any) -> None:
        try:
            req.loop.call_soon_threadsafe(req.out.put_nowait, item)
        except RuntimeError:  # the request's event loop is gone; nobody is listening
            pass


def _with_adapters(model: Any, adapters: list[LoraAdapter]) -> Any:
    from peft import PeftModel

    first, *rest = adapters
    model = PeftModel.from_pretrained(model, first.path, adapter_name=first.name, is_trainable=False)
    for adapter in rest:
        model.load_adapter(adapter.path, adapter_name=adapter.name, is_trainable=False)
    return model


def _longest(stops: Sequence[str]) -> int:
    return max((len(s) for s in stops), default=0)


def _find_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    hits = [i for s in stops if s and (i := text.find(s, start)) != -1]
    return min(hits) if hits else None


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids
