"""LoRA on the tiny model: which layers are adapted, and how served adapters are checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codefill.model.engines.lora import (
    LoraError,
    load_adapters,
    max_lora_rank,
    parse_lora_spec,
    read_adapter,
)
from codefill.jobs.training.lora_config import (
    DEFAULT_TARGET_MODULES,
    LoraSettings,
    check_target_modules,
    peft_lora_config,
)
from tests.adapters import make_adapter


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_path, tmp_path_factory):
    return make_adapter(tiny_model_path, tmp_path_factory.mktemp("adapter") / "a", rank=8)


def test_default_targets_are_every_attention_and_mlp_projection(tiny_model):
    assert DEFAULT_TARGET_MODULES == ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    adapted = check_target_modules(tiny_model, DEFAULT_TARGET_MODULES)
    layers = tiny_model.config.num_hidden_layers
    assert len(adapted) == 7 * layers
    assert "model.layers.0.self_attn.q_proj" in adapted and "model.layers.1.mlp.down_proj" in adapted
    assert not any("lm_head" in n or "embed" in n for n in adapted)


def test_peft_trains_exactly_the_adapter_matrices(tiny_model_path):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    c = model.config
    settings = LoraSettings(rank=4)
    peft_model = get_peft_model(model, peft_lora_config(settings))
    trainable = {n: p.numel() for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    head_dim = c.hidden_size // c.num_attention_heads
    kv = c.num_key_value_heads * head_dim
    per_layer = sum(4 * (i + o) for i, o in [
        (c.hidden_size, c.hidden_size), (c.hidden_size, kv), (c.hidden_size, kv), (c.hidden_size, c.hidden_size),
        (c.hidden_size, c.intermediate_size), (c.hidden_size, c.intermediate_size),
        (c.intermediate_size, c.hidden_size),
    ])
    assert sum(trainable.values()) == per_layer * c.num_hidden_layers


def test_a_missing_target_names_the_layers_the_model_has(tiny_model):
    with pytest.raises(ValueError, match=r"no linear layers named c_attn.*q_proj"):
        check_target_modules(tiny_model, ("q_proj", "c_attn"))


@pytest.mark.parametrize("kwargs, message", [
    ({"rank": 0}, "--lora-rank"), ({"alpha": 0}, "--lora-alpha"), ({"dropout": 1.0}, "--lora-dropout"),
    ({"target_modules": ()}, "target module"),
])
def test_bad_lora_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoraSettings(**kwargs)


# --- serving: --lora NAME=DIR ------------------------------------------------


@pytest.mark.parametrize("spec", ["nodir", "=dir", "name=", "bad name=dir", "-x=dir"])
def test_bad_lora_specs_say_what_is_expected(spec):
    with pytest.raises(LoraError, match="--lora"):
        parse_lora_spec(spec)


def test_a_good_spec_splits_at_the_first_equals_sign():
    assert parse_lora_spec("my-repo=adapters/a=b") == ("my-repo", "adapters/a=b")


def test_reading_an_adapter(adapter_dir):
    adapter = read_adapter("shop", adapter_dir)
    assert adapter.rank == 8 and adapter.alpha == 16
    assert set(adapter.target_modules) == set(DEFAULT_TARGET_MODULES)


def test_folders_that_are_not_lora_adapters_are_refused(tmp_path, tiny_model_path, adapter_dir):
    with pytest.raises(LoraError, match="is not a folder"):
        read_adapter("x", tmp_path / "missing")
    with pytest.raises(LoraError, match="no adapter_config.json.*serve it with --model"):
        read_adapter("x", tiny_model_path)
    other = tmp_path / "ia3"
    shutil.copytree(adapter_dir, other)
    config = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "IA3"}))
    with pytest.raises(LoraError, match="IA3 adapter; only LoRA"):
        read_adapter("x", other)


def test_an_adapter_for_another_base_model_is_refused(tmp_path, tiny_model_path, adapter_dir):
    wider = tmp_path / "wider-base"
    wider.mkdir()
    config = json.loads((Path(tiny_model_path) / "config.json").read_text())
    (wider / "config.json").write_text(json.dumps({**config, "hidden_size": 256, "num_attention_heads": 4}))
    message = r"trained for another base model: its \w+_proj has 128 (in|out)puts, but .* has 256"
    with pytest.raises(LoraError, match=message):
        load_adapters([f"shop={adapter_dir}"], str(wider))
    shallower = tmp_path / "one-layer-base"
    shallower.mkdir()
    (shallower / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
    with pytest.raises(LoraError, match="it has layer 1, but .* has 1 layers"):
        load_adapters([f"shop={adapter_dir}"], str(shallower))
    assert [a.name for a in load_adapters([f"shop={adapter_dir}"], tiny_model_path)] == ["shop"]


def test_adapter_names_must_be_unique_and_not_the_base_name(tiny_model_path, adapter_dir):
    with pytest.raises(LoraError, match="given twice"):
        load_adapters([f"a={adapter_dir}", f"a={adapter_dir}"], tiny_model_path)
    with pytest.raises(LoraError, match="already the base model's name"):
        load_adapters([f"tiny={adapter_dir}"], tiny_model_path, reserved_names=("tiny",))


def test_vllm_rank_is_the_smallest_supported_that_fits(adapter_dir):
    a8 = read_adapter("a", adapter_dir)
    assert max_lora_rank([a8]) == 8
    big = a8.__class__(**{**a8.__dict__, "rank": 20, "name": "big"})
    assert max_lora_rank([a8, big]) == 32
    assert max_lora_rank([a8], limit=64) == 64
    with pytest.raises(LoraError, match="'big' has rank 20, above --max-lora-rank 16"):
        max_lora_rank([a8, big], limit=16)
    with pytest.raises(LoraError, match="must be one of"):
        max_lora_rank([a8], limit=12)
    huge = a8.__class__(**{**a8.__dict__, "rank": 1024, "name": "huge"})
    with pytest.raises(LoraError, match="above the largest rank vLLM serves"):
        max_lora_rank([huge])
