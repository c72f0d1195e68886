"""A tiny random Qwen2 model with the real Qwen tokenizer, for fast tests.

Its text is gibberish, but it exercises everything around the model for real
(tokenizer, FIM tokens, chat template, stop ids, vLLM and transformers loading)
in seconds instead of the minute the 0.5B model takes. Weights come from a fixed
seed, so two builds are byte-identical and tests can rely on its outputs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from codefill.model.weights.convert import check_chat_template, generation_config_for
from codefill.model.weights.paths import build_dir_once, models_dir

TINY_DIR_NAME = "tiny-qwen2-random"
TINY_SEED = 1234
QWEN2_VOCAB_SIZE = 151936  # Qwen pads its 151,665 tokens to this size
TINY_MAX_POSITIONS = 4096

# head_dim = hidden_size / num_attention_heads = 64: vLLM's CPU attention only
# supports some head sizes (32, 64, 80, ...).
TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": TINY_MAX_POSITIONS,
    "tie_word_embeddings": True,  # one 151936 x 128 matrix instead of two: ~40 MB in bfloat16
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
    "rms_norm_eps": 1e-6,
    "use_sliding_window": False,
    # With the default 0.02 the layers barely change the residual stream, so a tied
    # model just repeats the prompt's last token (after a FIM prompt: <|fim_middle|>,
    # which decodes to nothing). At 0.1 the layers dominate and the text varies.
    "initializer_range": 0.1,
}
# Bump when the recipe changes, so cached tiny models are rebuilt.
TINY_FORMAT = 2


def padded_vocab_size(tokenizer_size: int) -> int:
    """Embedding rows for a Qwen tokenizer: at least Qwen's own 151936, a multiple of 128."""
    return max(QWEN2_VOCAB_SIZE, math.ceil(tokenizer_size / 128) * 128)


def build_tiny_model(out_dir: Path, tokenizer_source: str | Path) -> Path:
    """Build the tiny random model into `out_dir` (once; a matching marker means done)."""
    identity = {"kind": "tiny-random", "format": TINY_FORMAT, "seed": TINY_SEED,
                "tokenizer_source": str(tokenizer_source)}
    return build_dir_once(Path(out_dir), identity, lambda tmp: _build(tmp, tokenizer_source))


def tiny_model_dir() -> Path:
    """The shared tiny model under `<home>/models/`, built on first use (a few seconds)."""
    from codefill.model.weights.embedded import embedded_tokenizer_dir

    return build_tiny_model(models_dir() / TINY_DIR_NAME, embedded_tokenizer_dir())


def _non_text_token_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    """Special/added tokens, the GGUF vocabulary's "[PADnnn]" fillers and rows past the tokenizer."""
    ids = set(tokenizer.added_tokens_decoder)
    ids |= {i for token, i in tokenizer.get_vocab().items() if re.fullmatch(r"\[PAD\d+\]", token)}
    ids |= set(range(len(tokenizer), vocab_size))
    return sorted(i for i in ids if i < vocab_size)


def _build(dest: Path, tokenizer_source: str | Path) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    tokenizer.model_max_length = TINY_MAX_POSITIONS
    tokenizer.save_pretrained(str(dest))
    check_chat_template(tokenizer, dest)

    config = Qwen2Config(
        vocab_size=padded_vocab_size(len(tokenizer)),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_CONFIG,
    )
    # A private generator state: the weights depend only on the seed, not on what ran before.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        # Zero rows give these tokens a logit of 0 while text tokens spread around it, so
        # greedy decoding never picks them: no early <|endoftext|>, no "[PAD151700]" text.
        model.get_input_embeddings().weight[_non_text_token_ids(tokenizer, config.vocab_size)] = 0
    model = model.to(torch.bfloat16).eval()
    model.config.dtype = torch.bfloat16
    model.generation_config = generation_config_for(model, tokenizer)
    model.save_pretrained(str(dest))
    return {"parameters": sum(p.numel() for p in model.parameters())}
