"""vLLM options from the command line: speculative decoding, scale-out, pass-through arguments."""

from __future__ import annotations

import json

import pytest

from codefill.model.engines.engine_args import EngineArgsError, engine_args
from codefill.model.engines.speculative import Speculative, SpeculativeError
from codefill.commands.cli import build_parser

KNOWN = {"kv_cache_dtype", "pipeline_parallel_size", "data_parallel_size", "distributed_executor_backend",
         "compilation_config", "max_num_batched_tokens"}


def test_pairs_are_json_when_they_parse_and_later_ones_win(tmp_path):
    f = tmp_path / "engine.yaml"
    f.write_text("kv_cache_dtype: auto\nmax-num-batched-tokens: 4096\n")
    out = engine_args(file=str(f), pairs=["kv-cache-dtype=fp8", 'compilation_config={"level": 3}'],
                      pipeline_parallel_size=2, known=KNOWN)
    assert out == {"kv_cache_dtype": "fp8", "max_num_batched_tokens": 4096, "compilation_config": {"level": 3},
                   "pipeline_parallel_size": 2}


def test_a_typo_is_refused_with_the_near_names():
    with pytest.raises(EngineArgsError, match="did you mean kv_cache_dtype"):
        engine_args(pairs=["kv_cache_dtpye=fp8"], known=KNOWN)
    with pytest.raises(EngineArgsError, match="KEY=VALUE"):
        engine_args(pairs=["kv_cache_dtype"], known=KNOWN)


def test_a_bad_file_is_named(tmp_path):
    with pytest.raises(EngineArgsError, match="missing.yaml"):
        engine_args(file=str(tmp_path / "missing.yaml"), known=KNOWN)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(EngineArgsError, match="mapping"):
        engine_args(file=str(listed), known=KNOWN)


def test_speculative_settings():
    assert Speculative().engine_config() == {"method": "ngram", "num_speculative_tokens": 5,
                                             "prompt_lookup_min": 2, "prompt_lookup_max": 4}
    assert Speculative("off").engine_config() is None
    assert Speculative("draft-model", draft_model="/m").engine_config()["method"] == "draft_model"
    with pytest.raises(SpeculativeError, match="--draft-model"):
        Speculative("draft-model")
    with pytest.raises(SpeculativeError, match="min <= max"):
        Speculative(lookup_min=5, lookup_max=2)


def test_long_ngram_names_our_proposer_and_hands_it_its_sizes():
    from codefill.model.engines.long_match_ngram import ENV, LongMatchSettings

    spec = Speculative("long-ngram", tokens=4, lookup_min=3, lookup_max=5, long_tokens=10)
    assert spec.engine_config() == {"method": "custom_class", "num_speculative_tokens": 10,
                                    "model": "codefill.model.engines.long_match_ngram.LongMatchNgramProposer"}
    settings = LongMatchSettings(**json.loads(spec.engine_env()[ENV]))
    assert (settings.tokens, settings.min, settings.max, settings.long_tokens) == (4, 3, 5, 10)
    assert Speculative("ngram").engine_env() == {}
    with pytest.raises(SpeculativeError, match="--long-match-tokens"):
        Speculative("long-ngram", long_tokens=0)


def test_serve_flags_parse():
    args = build_parser().parse_args(["serve", "--speculative", "off", "--engine-arg", "kv_cache_dtype=fp8",
                                      "--pipeline-parallel-size", "2", "--distributed-executor-backend", "ray"])
    assert args.speculative == "off" and args.engine_arg == ["kv_cache_dtype=fp8"]
    assert args.pipeline_parallel_size == 2 and args.distributed_executor_backend == "ray"
    assert build_parser().parse_args(["serve"]).speculative == "ngram"
    assert build_parser().parse_args(["serve", "--speculative", "long-ngram", "--long-match-tokens", "16"]
                                     ).long_match_tokens == 16


def test_the_options_reach_vllms_own_config():
    from vllm.engine.arg_utils import AsyncEngineArgs

    from codefill.model.engines.vllm_engine import VllmEngine
    from codefill.model.weights.tiny import tiny_model_dir

    engine = VllmEngine(str(tiny_model_dir()), max_model_len=2048, speculative=Speculative(tokens=3),
                        extra_engine_args=engine_args(pairs=["max_num_batched_tokens=4096"], data_parallel_size=1,
                                                      distributed_executor_backend="mp"))
    config = AsyncEngineArgs(**engine.engine_kwargs()).create_engine_config()
    assert config.speculative_config.method == "ngram"
    assert config.speculative_config.num_speculative_tokens == 3
    assert config.scheduler_config.max_num_batched_tokens == 4096
    assert config.parallel_config.distributed_executor_backend == "mp"


def test_priority_scheduling_reaches_vllms_config():
    from vllm.engine.arg_utils import AsyncEngineArgs

    from codefill.model.engines.vllm_engine import VllmEngine
    from codefill.model.weights.tiny import tiny_model_dir

    engine = VllmEngine(str(tiny_model_dir()), max_model_len=2048, scheduling_policy="priority", max_num_seqs=8)
    config = AsyncEngineArgs(**engine.engine_kwargs()).create_engine_config()
    assert config.scheduler_config.policy == "priority" and config.scheduler_config.max_num_seqs == 8
    # --engine-arg wins over --priorities, as over everything else
    engine = VllmEngine(str(tiny_model_dir()), scheduling_policy="priority",
                        extra_engine_args={"scheduling_policy": "fcfs"})
    assert engine.engine_kwargs()["scheduling_policy"] == "fcfs"
    assert "scheduling_policy" not in VllmEngine(str(tiny_model_dir())).engine_kwargs()
