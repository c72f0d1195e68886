"""A LoRA adapter folded into its base model: one model folder that `codefill serve --model DIR` takes.

The merge is done in float32 and saved in the base model's own dtype, so the
merged folder is the size of the base and nothing is rounded twice. The
tokenizer and generation config are copied from the base, so the folder
serves on its own (FIM tokens, chat template, stop ids).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

MERGED_SUBDIR = "merged"


def merge_adapter(base_path: str, adapter_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    base_dtype = _config_dtype(AutoConfig.from_pretrained(base_path))
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    # An adapter trained with added tokens (a chat template the base lacked) ships its tokenizer.
    tokenizer_path = adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").is_file() else base_path
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # the adapter holds the new rows
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model = model.to(base_dtype)
    model.config.dtype = base_dtype
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def _config_dtype(config: Any) -> Any:
    import torch

    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = getattr(torch, value, None)
    return value if isinstance(value, torch.dtype) else torch.float32
