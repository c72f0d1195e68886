"""LoRA adapters that an engine serves beside its base model: `--lora NAME=DIR`.

Both engines get the same checked list, so a bad adapter fails `codefill serve`
at start with one clear sentence (no adapter_config.json, not a LoRA, trained
for another base model, rank above the engine's limit) instead of at the first
request that names it.

"Trained for another base model" is judged from shapes, not names: a folder
path in adapter_config.json says little (the same model is often copied or
converted elsewhere), but a q_proj adapter of 896 inputs cannot apply to a
model whose hidden size is 128. The shapes come from the safetensors header,
so nothing is loaded to check them.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("codefill.engine.lora")

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# The ranks vLLM's LoRA kernels are built for (vllm.config.lora.MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_LORA_KEY = re.compile(r"layers\.(\d+)\..*?(\w+)\.lora_([AB])(?:\.[\w-]+)?\.weight$")


class LoraError(ValueError):
    """An adapter that cannot be served, said in one sentence."""


@dataclass(frozen=True)
class LoraAdapter:
    name: str  # what clients put in `model`
    path: str  # the folder with adapter_config.json
    rank: int  # the largest rank of its layers
    alpha: float
    target_modules: tuple[str, ...]
    base_model: str | None  # base_model_name_or_path as peft wrote it (informative only)


def parse_lora_spec(spec: str) -> tuple[str, str]:
    """'NAME=DIR' -> (name, dir); the error names the expected shape."""
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise LoraError(f"--lora expects NAME=DIR (for example my-repo=adapters/my-repo), got {spec!r}")
    if not _NAME.fullmatch(name):
        raise LoraError(f"--lora name {name!r} must start with a letter or digit and hold only letters, "
                        "digits and . _ : / -")
    return name, path


def read_adapter(name: str, path: str | Path) -> LoraAdapter:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise LoraError(f"LoRA adapter {name!r}: {folder} is not a folder")
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        hint = " (it holds a full model: serve it with --model)" if (folder / "config.json").is_file() else ""
        raise LoraError(f"LoRA adapter {name!r}: {folder} has no {ADAPTER_CONFIG}, so it is not a peft adapter{hint}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise LoraError(f"LoRA adapter {name!r}: {config_path} is not valid JSON ({exc})") from exc
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise LoraError(f"LoRA adapter {name!r}: {folder} is a {peft_type or 'unknown'} adapter; only LoRA is served")
    if config.get("use_dora"):
        raise LoraError(f"LoRA adapter {name!r}: DoRA adapters are not served (vLLM has no DoRA kernels)")
    if config.get("modules_to_save"):
        raise LoraError(f"LoRA adapter {name!r}: it also saves whole modules ({', '.join(config['modules_to_save'])}), "
                        "which multi-LoRA serving cannot swap per request; merge it with `codefill train --merge`")
    ranks = [int(config.get("r") or 0), *(int(r) for r in (config.get("rank_pattern") or {}).values())]
    rank = max(ranks)
    if rank < 1:
        raise LoraError(f"LoRA adapter {name!r}: {config_path} has no rank `r`")
    targets = config.get("target_modules") or ()
    if isinstance(targets, str):  # peft also stores a regular expression here
        targets = (targets,)
    return LoraAdapter(
        name=name, path=str(folder.resolve()), rank=rank, alpha=float(config.get("lora_alpha") or rank),
        target_modules=tuple(targets), base_model=config.get("base_model_name_or_path"),
    )


def load_adapters(specs: Iterable[str], base_model_path: str, reserved_names: Sequence[str] = ()) -> list[LoraAdapter]:
    """The `--lora` values, read and checked against the base model's config.json."""
    adapters: list[LoraAdapter] = []
    for spec in specs:
        name, path = parse_lora_spec(spec)
        if name in reserved_names:
            raise LoraError(f"--lora name {name!r} is already the base model's name; pick another")
        if any(a.name == name for a in adapters):
            raise LoraError(f"--lora name {name!r} is given twice")
        adapter = read_adapter(name, path)
        check_adapter_fits(adapter, base_model_path)
        adapters.append(adapter)
    return adapters


# --- does it fit the base model? ------------------------------------------


def _projection_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of the usual decoder projections, from config.json."""
    hidden = config.get("hidden_size")
    heads = config.get("num_attention_heads")
    if not hidden or not heads:
        return {}
    head_dim = config.get("head_dim") or hidden // heads
    kv_heads = config.get("num_key_value_heads") or heads
    shapes = {
        "q_proj": (hidden, heads * head_dim),
        "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim),
        "o_proj": (heads * head_dim, hidden),
    }
    if config.get("intermediate_size"):
        inter = config["intermediate_size"]
        shapes.update(gate_proj=(hidden, inter), up_proj=(hidden, inter), down_proj=(inter, hidden))
    return shapes


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, read from the file's JSON header only."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def check_adapter_fits(adapter: LoraAdapter, base_model_path: str) -> None:
    config_path = Path(base_model_path) / "config.json"
    weights = Path(adapter.path) / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights.is_file():
        log.warning("LoRA adapter %r: cannot compare its shapes with the base model (no %s)", adapter.name,
                    config_path if not config_path.is_file() else weights)
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config = config.get("text_config", config)  # multimodal configs nest the language model's
    expected = _projection_shapes(config)
    layers = config.get("num_hidden_layers")
    for key, shape in safetensors_shapes(weights).items():
        m = _LORA_KEY.search(key)
        if not m:
            continue
        layer, module, side = int(m.group(1)), m.group(2), m.group(3)
        if layers is not None and layer >= layers:
            raise LoraError(
                f"LoRA adapter {adapter.name!r} was trained for another base model: it has layer {layer}, "
                f"but {base_model_path} has {layers} layers"
            )
        if module not in expected or len(shape) != 2:
            continue
        features_in, features_out = expected[module]
        got, want, what = ((shape[1], features_in, "inputs") if side == "A" else (shape[0], features_out, "outputs"))
        if got != want:
            raise LoraError(
                f"LoRA adapter {adapter.name!r} was trained for another base model: its {module} has {got} "
                f"{what}, but {base_model_path} has {want}"
            )
    if adapter.base_model and Path(adapter.base_model).name != Path(base_model_path).name:
        log.warning("LoRA adapter %r was trained on %s; serving it on %s (shapes match)", adapter.name,
                    adapter.base_model, base_model_path)


def max_lora_rank(adapters: Sequence[LoraAdapter], limit: int | None = None) -> int:
    """The rank vLLM is started with: the smallest rank its kernels support that fits every adapter.

    `limit` (--max-lora-rank) caps it; an adapter above the cap is an error, not a silent truncation.
    """
    largest = max((a.rank for a in adapters), default=1)
    if limit is not None:
        if limit not in VLLM_LORA_RANKS:
            raise LoraError(f"--max-lora-rank must be one of {', '.join(map(str, VLLM_LORA_RANKS))}, got {limit}")
        too_big = [a for a in adapters if a.rank > limit]
        if too_big:
            a = too_big[0]
            raise LoraError(f"LoRA adapter {a.name!r} has rank {a.rank}, above --max-lora-rank {limit}")
        return limit
    for rank in VLLM_LORA_RANKS:
        if rank >= largest:
            return rank
    a = max(adapters, key=lambda x: x.rank)
    raise LoraError(f"LoRA adapter {a.name!r} has rank {a.rank}, above the largest rank vLLM serves "
                    f"({VLLM_LORA_RANKS[-1]})")


# --- vLLM's CPU build: base-model rows in a LoRA batch ----------------------

IDENTITY_LORA_NAME = "__codefill_base__"  # cannot clash: --lora names start with a letter or digit


def write_identity_adapter(like: LoraAdapter, out_dir: Path) -> Path:
    """An adapter that changes nothing: `like`'s shapes and targets, every B matrix zero.

    vLLM's CPU LoRA ops gather each token's adapter with its index, and a
    base-model token's index is -1, which Python indexing turns into the last
    adapter slot: in a batch that mixes base and adapter requests, base
    requests get an adapter's delta (vllm-project/vllm#48421, #49656; the GPU
    kernels skip -1). Sending base requests through this adapter gives every
    token a real slot whose delta is exactly zero.
    """
    from safetensors.torch import load_file, save_file

    weights = load_file(str(Path(like.path) / ADAPTER_WEIGHTS))
    zeroed = {k: (v.new_zeros(v.shape) if ".lora_B." in k else v) for k, v in weights.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(zeroed, str(out_dir / ADAPTER_WEIGHTS))
    (out_dir / ADAPTER_CONFIG).write_text((Path(like.path) / ADAPTER_CONFIG).read_text(encoding="utf-8"),
                                          encoding="utf-8")
    return out_dir
