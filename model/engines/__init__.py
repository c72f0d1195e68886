"""Engines: one async contract (base.Engine), several implementations."""

from __future__ import annotations

import importlib.util
from typing import Any

from codefill.model.engines.base import (
    Delta,
    Engine,
    EngineError,
    EngineInfo,
    EngineRequestError,
    SamplingOptions,
)

ENGINE_KINDS = ("auto", "vllm", "hf")


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def create_engine(kind: str, model_path: str, **options: Any) -> Engine:
    """Build an engine; `auto` prefers vLLM and falls back to transformers."""
    if kind not in ENGINE_KINDS:
        raise ValueError(f"unknown engine {kind!r}; choose one of {', '.join(ENGINE_KINDS)}")
    if kind == "auto":
        kind = "vllm" if vllm_available() else "hf"
    if kind == "vllm":
        if not vllm_available():
            raise EngineError(
                "--engine vllm was asked for but vLLM is not installed; "
                "run scripts/setup.sh or use --engine hf"
            )
        from codefill.model.engines.vllm_engine import VllmEngine

        return VllmEngine(model_path, **options)
    from codefill.model.engines.hf_engine import HfEngine

    hf_options = {k: v for k, v in options.items() if k in ("max_model_len", "dtype", "device", "loras")}
    return HfEngine(model_path, **hf_options)


__all__ = [
    "ENGINE_KINDS",
    "Delta",
    "Engine",
    "EngineError",
    "EngineInfo",
    "EngineRequestError",
    "SamplingOptions",
    "create_engine",
    "vllm_available",
]
