"""Which layers LoRA adapts, and the peft configuration that says so.

The default is every attention and MLP projection of a Llama-shaped decoder
(Qwen2, StarCoder2, DeepSeek-Coder, CodeLlama, CodeGemma, Codestral all name
them this way): adapting the MLPs as well as attention is what makes a small
rank learn a codebase's vocabulary, and vLLM's multi-LoRA serves exactly
these modules. Embeddings and the LM head stay frozen, so the adapter never
carries a 150k-row matrix and serving never swaps one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
DEFAULT_TARGET_MODULES = ATTENTION_MODULES + MLP_MODULES


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"--lora-rank must be at least 1, got {self.rank}")
        if self.alpha <= 0:
            raise ValueError(f"--lora-alpha must be positive, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--lora-dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("LoRA needs at least one target module")


def matching_modules(model: Any, targets: Sequence[str]) -> dict[str, list[str]]:
    """target name -> the model's linear layers with that name (peft matches on the last name part)."""
    import torch

    found: dict[str, list[str]] = {t: [] for t in targets}
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in found and isinstance(module, torch.nn.Linear):
            found[leaf].append(name)
    return found


def check_target_modules(model: Any, targets: Sequence[str]) -> list[str]:
    """The adapted layers' names; an error names the targets this model does not have."""
    found = matching_modules(model, targets)
    missing = [t for t, names in found.items() if not names]
    if missing:
        linear = _linear_leaves(model)
        raise ValueError(
            f"the model has no linear layers named {', '.join(missing)}; its linear layers are named "
            f"{', '.join(linear)} (choose with --lora-targets)"
        )
    return sorted(n for names in found.values() for n in names)


def _linear_leaves(model: Any) -> list[str]:
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def peft_lora_config(settings: LoraSettings, trainable_token_ids: Sequence[int] = ()) -> Any:
    """`trainable_token_ids`: embedding rows that train too (tokens added for a chat template)."""
    from peft import LoraConfig, TaskType

    extra: dict[str, Any] = {}
    if trainable_token_ids:
        extra["trainable_token_indices"] = {"embed_tokens": [int(i) for i in trainable_token_ids]}
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        **extra,
    )
