"""Checkpoints and `--resume`: an interrupted run continues at the exact step and ends where an unbroken one does."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from codefill.jobs.training.batches import collate, epoch_batches
from codefill.jobs.training.checkpoints import CheckpointStore, TrainerState, read_state
from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example
from codefill.jobs.training.train_config import TrainConfig
from codefill.jobs.training.trainer import Trainer, steps_per_epoch
from tests.unit.training_repo import make_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("shop"))


def tiny_config(repo, out, tiny_model_path, **overrides) -> TrainConfig:
    values = dict(repo=str(repo), out=str(out), model=tiny_model_path, seq_len=512, batch_size=2, lr=5e-3,
                  save_every=2, run_eval=False, progress=False, lora_dropout=0.1)
    values.update(overrides)
    return TrainConfig(**values)


def adapter_weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


# --- the order of examples ---------------------------------------------------


def test_each_epoch_covers_every_example_once_in_an_order_fixed_by_seed_and_epoch():
    lengths = [5, 300, 12, 40, 41, 200, 7, 90, 91, 92, 3]
    first = epoch_batches(lengths, 3, seed=1, epoch=0)
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert first == epoch_batches(lengths, 3, seed=1, epoch=0)
    assert first != epoch_batches(lengths, 3, seed=1, epoch=1)
    assert first != epoch_batches(lengths, 3, seed=2, epoch=0)
    # Within a window, batches hold neighbours in length: the longest batch holds the longest examples.
    longest = max(first, key=lambda b: max(lengths[i] for i in b))
    assert {1, 5} & set(longest)


def test_collate_pads_on_the_right_and_never_learns_padding():
    a = Example(kind="inline", path="a.py", input_ids=[1, 2, 3], labels=[IGNORE_INDEX, 2, 3])
    b = Example(kind="plain", path="b.py", input_ids=[4], labels=[4])
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]


def test_steps_per_epoch_counts_processes_and_accumulation():
    assert steps_per_epoch(10, 1, 1) == 10
    assert steps_per_epoch(10, 1, 3) == 4  # the last step takes the one micro-batch left
    assert steps_per_epoch(10, 4, 1) == 3  # accelerate gives each process ceil(10 / 4) batches
    assert steps_per_epoch(1, 8, 4) == 1


# --- the loss on the middle -----------------------------------------------------


def test_middle_loss_from_kept_logits_equals_the_full_cross_entropy(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM

    from codefill.jobs.training.loss import middle_loss_sum

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    a = Example(kind="inline", path="a.py", input_ids=[11, 12, 13, 14, 15, 16],
                labels=[IGNORE_INDEX] * 4 + [15, 16])
    b = Example(kind="plain", path="b.py", input_ids=[21, 22, 23, 24], labels=[21, 22, 23, 24])
    batch = collate([a, b], pad_id=0)
    with torch.no_grad():
        total, tokens = middle_loss_sum(model, batch)
        reference = model(**batch).loss  # transformers' own shifted mean over the labelled tokens
    assert int(tokens) == 2 + 3  # the plain example's first token has nothing before it to predict it
    assert float(total / tokens) == pytest.approx(float(reference), rel=1e-5)


# --- the saved settings ---------------------------------------------------------


def test_resuming_takes_the_saved_settings_and_refuses_conflicting_ones(tmp_path):
    saved = TrainConfig(repo="/r", out=str(tmp_path), lora_rank=8, max_steps=10, seq_len=512)
    saved.save(tmp_path)
    loaded = TrainConfig.load(tmp_path)
    assert loaded == saved
    assert loaded.resumed_with({"lora_rank": 8, "save_every": 5, "merge": True}) == \
        replace(saved, save_every=5, merge=True)
    with pytest.raises(ValueError, match=r"--lora-rank 16 \(the run has 8\).*--seq-len 1024 \(the run has 512\)"):
        loaded.resumed_with({"lora_rank": 16, "seq_len": 1024})


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "--batch-size"), ({"max_steps": 0}, "--max-steps"), ({"seq_len": 16}, "--seq-len"),
    ({"fim_rate": 2}, "--fim-rate"), ({"lr": -1}, "--lr"), ({"eval_limit": 0}, "--eval-limit"),
])
def test_bad_settings_are_refused_with_the_option_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(repo="/r", out="/o", **kwargs)


# --- checkpoints ----------------------------------------------------------------


def test_only_finished_checkpoints_are_resumed_from_and_old_ones_are_dropped(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for step in (2, 4, 6):
        store.partial_path(step).mkdir(parents=True)
        store.finish(step, TrainerState(step=step, total_steps=10))
    assert [p.name for p in store.complete()] == ["step-000004", "step-000006"]
    store.partial_path(8).mkdir()  # killed while writing step 8
    (store.partial_path(8) / "optimizer.bin").write_bytes(b"half")
    assert store.latest() == store.path(6)
    assert read_state(store.latest()).step == 6
    store.clear_partial()
    assert not store.partial_path(8).exists()


def test_an_interrupted_run_resumes_at_its_checkpoint_and_ends_like_an_unbroken_run(repo, tmp_path,
                                                                                      tiny_model_path):
    # 5 examples in batches of 2 make 3 batches an epoch; with 2 batches a step, an epoch is 2 steps and
    # the second step of each epoch has a single batch. Stopping at step 3 stops in the middle of epoch 1.
    unbroken_config = tiny_config(repo, tmp_path / "unbroken", tiny_model_path, max_steps=6, grad_accum=2,
                                  save_every=3)
    unbroken = Trainer(unbroken_config).run()
    assert unbroken.finished and unbroken.state.step == 6

    broken_config = replace(unbroken_config, out=str(tmp_path / "broken"))
    first = Trainer(broken_config).run(until_step=3)
    assert not first.finished and first.state.step == 3
    checkpoint = CheckpointStore(broken_config.out).latest()
    saved = read_state(checkpoint)
    assert (saved.step, saved.epoch, saved.batches_done) == (3, 1, 2)
    assert not (tmp_path / "broken" / "adapter_model.safetensors").exists()  # no final adapter before the end
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()  # the checkpoint holds the adapter
    assert not list(checkpoint.glob("model*.safetensors"))  # and not the frozen base model

    resumed = Trainer(broken_config, resume=True).run()
    assert resumed.finished and resumed.state.resumed_from == [3]
    assert [e["step"] for e in resumed.state.losses] == [1, 2, 3, 4, 5, 6]
    # Same data order, same dropout masks, same optimizer moments: bit for bit the unbroken run.
    assert resumed.state.losses == unbroken.state.losses
    a, b = adapter_weights(tmp_path / "unbroken"), adapter_weights(tmp_path / "broken")
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    report = json.loads((tmp_path / "broken" / "train-report.json").read_text())
    assert report["training"]["resumed_from_steps"] == [3] and report["training"]["finished"]
    assert (tmp_path / "broken" / "loss.png").stat().st_size > 10_000


def test_a_new_run_refuses_a_folder_that_holds_one(repo, tmp_path, tiny_model_path):
    config = tiny_config(repo, tmp_path / "out", tiny_model_path, max_steps=1)
    Trainer(config).run()
    with pytest.raises(ValueError, match="already holds a training run; pass --resume"):
        Trainer(config).run()
    with pytest.raises(ValueError, match="holds no training run"):
        Trainer(replace(config, out=str(tmp_path / "empty")), resume=True).run()


def test_a_full_fine_tune_writes_a_model_folder_that_loads(repo, tmp_path, tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = tiny_config(repo, tmp_path / "full", tiny_model_path, full=True, max_steps=2, lr=1e-3)
    result = Trainer(config).run()
    assert result.finished
    out = tmp_path / "full"
    model = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert model.dtype == torch.float32  # as trained
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert any("mlp" in n for n in changed)
    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("<|fim_middle|>") is not None
    assert not (out / "adapter_config.json").exists()
