"""The accelerate config files shipped for multi-GPU training load with accelerate's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "training" / "configs"


@pytest.mark.parametrize("name, kind", [("deepspeed_zero3.yaml", "DEEPSPEED"), ("fsdp.yaml", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))
    assert config.distributed_type.name == kind
    assert config.mixed_precision == "bf16" and not config.use_cpu
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_init_flag"]
        # Left to `codefill train`, which fills DeepSpeed's "auto" values from its own options.
        assert "gradient_accumulation_steps" not in config.deepspeed_config
    else:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
