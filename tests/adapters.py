"""Real peft LoRA adapters for the tiny model, built in a second without training.

peft starts an adapter with B = 0, which changes nothing; these get random
non-zero weights (`init_lora_weights=False`) from a seed, so an adapter
visibly changes the tiny model's greedy text and two seeds give two different
adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from codefill.jobs.training.lora_config import DEFAULT_TARGET_MODULES


def make_adapter(base_model: str, out: Path, *, seed: int = 0, rank: int = 8,
                 targets: Sequence[str] = DEFAULT_TARGET_MODULES) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets), init_lora_weights=False,
                        task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, config)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0.0, 0.5)  # strong enough to move a random model's argmax
    peft_model.save_pretrained(str(out))
    return out
