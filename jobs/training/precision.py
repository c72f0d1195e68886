"""bf16 where the hardware computes it natively, float32 elsewhere.

A CPU without AVX512-BF16 or AMX emulates bf16 matrix products and runs them
several times slower than float32, so "auto" picks bf16 only on CUDA devices
that support it and on CPUs with those instructions (the same test the
serving side uses for vLLM's CPU build).
"""

from __future__ import annotations

from dataclasses import dataclass

from codefill.model.engines.vllm_env import cpu_has_bf16

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class Precision:
    name: str  # "bf16" or "fp32"
    reason: str

    @property
    def mixed_precision(self) -> str:
        """Accelerate's name for it."""
        return "bf16" if self.name == "bf16" else "no"

    def frozen_weights_dtype(self) -> object:
        """The dtype of weights that are not trained (the base model under LoRA)."""
        import torch

        return torch.bfloat16 if self.name == "bf16" else torch.float32


def choose_precision(requested: str, device_type: str) -> Precision:
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp32":
        return Precision("fp32", "asked for")
    native = _native_bf16(device_type)
    if requested == "bf16":
        return Precision("bf16", "asked for" if native else "asked for (emulated on this hardware: slow)")
    if native:
        return Precision("bf16", f"{device_type} computes bf16 natively")
    return Precision("fp32", f"{device_type} has no native bf16")


def _native_bf16(device_type: str) -> bool:
    if device_type == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        return cpu_has_bf16()
    return False
