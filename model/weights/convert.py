"""GGUF file -> Hugging Face folder (safetensors + tokenizer) that vLLM and transformers load.

vLLM's CPU build cannot read GGUF, so codefill converts once: transformers
dequantizes the GGUF weights, and they are saved in bfloat16 (half the size of
float32, and what the model was trained in). Conversion takes 1-2 minutes for a
0.5B model, so it runs at most once per file: the folder is written beside its
final place, gets a marker (`codefill-converted.json`) and is renamed into place,
all under a file lock so two processes starting at once do not both convert.
"""

from __future__ import annotations

import logging
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from codefill.model.weights.paths import build_dir_once, sha256_file

log = logging.getLogger(__name__)

# Bump when the output of a conversion changes, so older folders are rebuilt.
CONVERSION_FORMAT = 1

# End-of-turn / end-of-text tokens that should stop generation when the vocabulary
# has them. A GGUF names a single eos; Qwen instruct models end a chat turn with
# <|im_end|> but end a completion (FIM) with <|endoftext|>, and both must stop.
_STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>", "<|EOT|>")


class GgufConversionError(RuntimeError):
    """A GGUF file could not be turned into a Hugging Face folder."""


def model_identity(source_sha256: str) -> dict[str, Any]:
    """Marker fields that say a folder is the complete conversion of this GGUF."""
    return {"kind": "hf-model", "source_sha256": source_sha256, "format": CONVERSION_FORMAT}


def tokenizer_identity(source_sha256: str) -> dict[str, Any]:
    """Marker fields that say a folder holds the tokenizer of this GGUF."""
    return {"kind": "tokenizer", "source_sha256": source_sha256, "format": CONVERSION_FORMAT}


class _Stages:
    """Prints each conversion stage with the time it took; a conversion is long enough to need it."""

    def __init__(self, title: str, enabled: bool):
        self.title = title
        self.enabled = enabled
        self.start = self.last = time.monotonic()

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        line = f"[codefill] {self.title}: {message} (+{now - self.last:.1f}s)"
        self.last = now
        log.info(line)
        if self.enabled:
            print(line, file=sys.stderr, flush=True)

    def done(self, out_dir: Path) -> None:
        self(f"done in {time.monotonic() - self.start:.1f}s -> {out_dir}")


def convert_gguf_to_hf(
    gguf_path: Path,
    out_dir: Path,
    progress: bool = True,
    *,
    source_sha256: str | None = None,
    dtype: str = "bfloat16",
) -> Path:
    """Convert `gguf_path` into an HF folder at `out_dir` (once) and return `out_dir`.

    `source_sha256` is the GGUF's hash when the caller already knows it (it goes
    into the marker); otherwise the file is hashed here.
    """
    gguf_path = Path(gguf_path)
    sha = source_sha256 or sha256_file(gguf_path, progress=progress)

    def build(tmp: Path) -> dict[str, Any]:
        stages = _Stages(f"converting {gguf_path.name}", progress)
        stages("loading tokenizer")
        tokenizer = _save_tokenizer(gguf_path, tmp)
        stages("loading & dequantizing weights (about a minute for 0.5B parameters)")
        try:
            model = _load_dequantized(gguf_path, dtype)
        except (ValueError, KeyError, NotImplementedError, OSError) as exc:
            raise GgufConversionError(
                f"transformers could not read the weights of {gguf_path}: {str(exc).rstrip('.')}. "
                "Check that it is a complete GGUF file of an architecture transformers supports "
                "(llama, qwen2, mistral, starcoder2, ...), or pass a Hugging Face model folder instead."
            ) from exc
        stages(f"saving weights as {dtype} safetensors")
        model.generation_config = generation_config_for(model, tokenizer)
        model.save_pretrained(str(tmp), max_shard_size="5GB")  # also writes generation_config.json
        stages.done(out_dir)
        return _marker_extras(gguf_path, dtype)

    return build_dir_once(Path(out_dir), model_identity(sha), build)


def extract_gguf_tokenizer(
    gguf_path: Path,
    out_dir: Path,
    progress: bool = True,
    *,
    source_sha256: str | None = None,
) -> Path:
    """Save only the tokenizer (with its chat template) of `gguf_path` into `out_dir` (once)."""
    gguf_path = Path(gguf_path)
    sha = source_sha256 or sha256_file(gguf_path, progress=progress)

    def build(tmp: Path) -> dict[str, Any]:
        stages = _Stages(f"extracting the tokenizer of {gguf_path.name}", progress)
        _save_tokenizer(gguf_path, tmp)
        stages.done(out_dir)
        return _marker_extras(gguf_path, None)

    return build_dir_once(Path(out_dir), tokenizer_identity(sha), build)


def _marker_extras(gguf_path: Path, dtype: str | None) -> dict[str, Any]:
    import transformers

    extras: dict[str, Any] = {
        "source_file": gguf_path.name,
        "transformers_version": transformers.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if dtype:
        extras["dtype"] = dtype
    return extras


def _save_tokenizer(gguf_path: Path, dest: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except (ValueError, KeyError, NotImplementedError, OSError) as exc:
        raise GgufConversionError(
            f"transformers could not read the tokenizer of {gguf_path}: {str(exc).rstrip('.')}. "
            "Check that it is a complete GGUF file with tokenizer metadata, "
            "or pass a Hugging Face model folder instead."
        ) from exc
    # A GGUF tokenizer comes without a length limit (model_max_length 1e30); the model's
    # trained context is the honest limit for anything that fits prompts to it.
    context_length = _gguf_context_length(gguf_path)
    if context_length:
        tokenizer.model_max_length = context_length
    tokenizer.save_pretrained(str(dest))
    check_chat_template(tokenizer, dest)
    return tokenizer


def _gguf_context_length(gguf_path: Path) -> int | None:
    """`<arch>.context_length` from the GGUF header, or None.

    Read by hand because gguf.GGUFReader parses every field (the 150k-entry
    vocabulary included) and takes ~10 s; the key we want sits near the start.
    """
    try:
        with open(gguf_path, "rb") as f:
            fields = _iter_gguf_fields(f)
            arch = None
            for key, value in fields:
                if key == "general.architecture":
                    arch = value
                elif arch and key == f"{arch}.context_length":
                    return int(value)
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        log.debug("no context length in %s: %s", gguf_path, exc)
    return None


# GGUF value types: scalar struct formats by type id; 8 is a string, 9 an array.
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _iter_gguf_fields(f: BinaryIO) -> Iterator[tuple[str, Any]]:
    magic, version = struct.unpack("<4sI", f.read(8))
    if magic != b"GGUF" or version < 2:
        raise ValueError("not a GGUF v2+ file")
    _tensor_count, kv_count = struct.unpack("<QQ", f.read(16))
    for _ in range(kv_count):
        key = _read_gguf_string(f)
        (value_type,) = struct.unpack("<I", f.read(4))
        yield key, _read_gguf_value(f, value_type)


def _read_gguf_string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", f.read(8))
    return f.read(length).decode("utf-8")


def _read_gguf_value(f: BinaryIO, value_type: int) -> Any:
    if value_type in _GGUF_SCALARS:
        fmt = _GGUF_SCALARS[value_type]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if value_type == 8:
        return _read_gguf_string(f)
    if value_type == 9:  # arrays (the vocabulary) are skipped, not kept
        (item_type,), (count,) = struct.unpack("<I", f.read(4)), struct.unpack("<Q", f.read(8))
        if item_type in _GGUF_SCALARS:
            f.seek(count * struct.calcsize(_GGUF_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _read_gguf_value(f, item_type)
        return None
    raise ValueError(f"unknown GGUF value type {value_type}")


def check_chat_template(original: Any, dest: Path) -> None:
    """The chat template lives in GGUF metadata; make sure the saved folder kept it.

    Without it the /v1/chat/completions route silently formats prompts wrongly.
    """
    if not original.chat_template:
        return
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(str(dest))
    if reloaded.chat_template != original.chat_template:
        # Older/newer transformers disagree on where it goes; the .jinja file is read by both.
        (dest / "chat_template.jinja").write_text(original.chat_template)
        reloaded = AutoTokenizer.from_pretrained(str(dest))
    if reloaded.chat_template != original.chat_template:
        raise RuntimeError(f"the chat template of the GGUF was lost when saving the tokenizer to {dest}")


def _load_dequantized(gguf_path: Path, dtype: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils.quantization_config import GgufConfig

    torch_dtype = getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent),
        gguf_file=gguf_path.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch_dtype,
    )
    # Dequantized weights are a plain model; a leftover quantization_config in
    # config.json would make vLLM look for a GGUF kernel.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Dequantization may hand back float32 whatever was asked; the saved size depends on this.
    if any(p.dtype != torch_dtype for p in model.parameters()):
        model = model.to(torch_dtype)
    model.config.dtype = torch_dtype
    return model.eval()


def generation_config_for(model: Any, tokenizer: Any) -> Any:
    config = model.generation_config
    eos: list[int] = []
    candidates = [tokenizer.eos_token_id, *_as_list(config.eos_token_id)]
    vocab = tokenizer.get_vocab()
    candidates += [vocab[t] for t in _STOP_TOKENS if t in vocab]
    for token_id in candidates:
        if isinstance(token_id, int) and token_id not in eos:
            eos.append(token_id)
    config.eos_token_id = eos
    if config.pad_token_id is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id
    return config


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
