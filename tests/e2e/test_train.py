"""`codefill train` end to end: train the tiny model on a generated repository, kill it, resume it, serve it.

The run is killed with SIGKILL (no chance to clean up) as soon as its first
checkpoint is finished, and `--resume` must continue from the checkpoint it
left. The adapter is then served next to the base model on both engines,
and on held-out examples its completions must differ from the base model's:
the learning rate is high enough for a few steps to move the random model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from codefill.model.engines import vllm_available
from codefill.jobs.training.fim_examples import read_examples
from tests.e2e.servers import CODEFILL, ServerProcess
from tests.unit.training_repo import make_repo

STEPS = 12
SAVE_EVERY = 2


@dataclass
class TrainedRun:
    repo: Path
    out: Path
    killed_at: int  # the newest finished checkpoint when the first run was killed
    first_log: str
    resumed: subprocess.CompletedProcess


def train_command(repo: Path, out: Path, model: str) -> list[str]:
    return [CODEFILL, "train", str(repo), "--out", str(out), "--model", model, "--max-steps", str(STEPS),
            "--save-every", str(SAVE_EVERY), "--seq-len", "512", "--batch-size", "1", "--lr", "1e-2",
            "--holdout", "0.3", "--eval-batch-size", "4", "--merge"]


def newest_checkpoint(out: Path) -> int:
    steps = [int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("step-*")
             if (p / "trainer_state.json").is_file()]
    return max(steps, default=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_path) -> TrainedRun:
    root = tmp_path_factory.mktemp("train")
    repo = make_repo(root / "shop")
    out = root / "adapter"
    command = train_command(repo, out, tiny_model_path)
    log_path = root / "first-run.log"
    with log_path.open("wb") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600
        while newest_checkpoint(out) == 0:
            if first.poll() is not None:
                raise AssertionError(f"the run ended before its first checkpoint:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                os.killpg(first.pid, signal.SIGKILL)
                raise AssertionError(f"no checkpoint after 600 s:\n{log_path.read_text()}")
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    killed_at = newest_checkpoint(out)
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return TrainedRun(repo, out, killed_at, log_path.read_text(errors="replace"), resumed)


def test_the_killed_run_resumes_at_its_checkpoint_and_finishes(trained):
    assert 0 < trained.killed_at < STEPS
    assert f"resuming from step {trained.killed_at} of {STEPS}" in trained.resumed.stderr
    report = json.loads((trained.out / "train-report.json").read_text())
    training = report["training"]
    assert training["finished"] and training["steps"] == STEPS
    assert training["resumed_from_steps"] == [trained.killed_at]
    # Every step once: the steps before the checkpoint from the first run, the rest from the second.
    assert [entry["step"] for entry in training["losses"]] == list(range(1, STEPS + 1))
    assert newest_checkpoint(trained.out) == STEPS


def test_progress_is_shown_for_data_training_and_evaluation(trained):
    assert "training examples" in trained.first_log and "split:" in trained.first_log
    assert "evaluation (before)" in trained.first_log
    assert "training:" in trained.resumed.stderr and "loss=" in trained.resumed.stderr
    assert "evaluation (after)" in trained.resumed.stderr
    assert "held-out FIM exact match" in trained.resumed.stdout
    assert f"--lora shop={trained.out}" in trained.resumed.stdout


def test_the_reports_and_the_loss_curve_are_written_next_to_the_adapter(trained):
    out = trained.out
    for name in ("adapter_config.json", "adapter_model.safetensors", "train-report.json", "train-report.md",
                 "eval-before.json", "eval-after.json", "eval.md", "data/train.jsonl", "data/eval.jsonl"):
        assert (out / name).is_file(), name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = json.loads((out / "eval-before.json").read_text())
    after = json.loads((out / "eval-after.json").read_text())
    assert before["examples"] == after["examples"] > 0
    assert after["mean_middle_loss"] != before["mean_middle_loss"]
    table = (out / "eval.md").read_text()
    assert "| FIM exact match |" in table and "| mean middle loss (nats/token) |" in table
    assert "## Held-out evaluation" in (out / "train-report.md").read_text()


# --- serving what was trained --------------------------------------------------------


def held_out(trained: TrainedRun) -> list:
    examples = [e for e in read_examples(trained.out / "data" / "eval.jsonl") if e.prefix is not None]
    assert examples, "the run held out no examples"
    return examples


def complete(server: ServerProcess, model: str, prefix: str, suffix: str) -> str:
    r = httpx.post(f"{server.url}/v1/completions", timeout=120, json={
        "model": model, "prompt": prefix, "suffix": suffix, "max_tokens": 16, "temperature": 0,
        "codefill": {"postprocess": False},
    })
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def engine_kinds() -> list:
    vllm = pytest.param("vllm", marks=pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed"))
    return ["hf", vllm]


class Served:
    """One engine kind's servers: the base model with the adapter, and (when first asked for) the merged model."""

    def __init__(self, kind: str, trained: TrainedRun, base_model: str) -> None:
        self.kind, self.trained = kind, trained
        self.adapter = ServerProcess("--model", base_model, "--engine", kind, "--max-model-len", "2048",
                                     "--served-model-name", "tiny", "--lora", f"shop={trained.out}")
        self._merged: ServerProcess | None = None

    @property
    def merged(self) -> ServerProcess:
        if self._merged is None:
            self._merged = ServerProcess("--model", str(self.trained.out / "merged"), "--engine", self.kind,
                                         "--max-model-len", "2048", "--served-model-name", "shop-merged")
        return self._merged

    def stop(self) -> None:
        for server in (self.adapter, self._merged):
            if server is not None:
                server.stop()


@pytest.fixture(scope="module", params=engine_kinds())
def served(request, trained, tiny_model_path):
    servers = Served(request.param, trained, tiny_model_path)
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def adapter_server(served) -> ServerProcess:
    return served.adapter


def test_models_lists_the_adapter_with_its_base(adapter_server, trained):
    cards = {m["id"]: m for m in httpx.get(f"{adapter_server.url}/v1/models").json()["data"]}
    assert set(cards) == {"tiny", "shop"}
    assert cards["shop"]["parent"] == "tiny" and cards["shop"]["root"] == str(trained.out)
    assert cards["tiny"]["parent"] is None
    one = httpx.get(f"{adapter_server.url}/v1/models/shop").json()
    assert one["id"] == "shop" and one["parent"] == "tiny"


def test_the_adapter_completes_held_out_code_differently_from_the_base(adapter_server, trained):
    pairs = [(complete(adapter_server, "tiny", e.prefix, e.suffix),
              complete(adapter_server, "shop", e.prefix, e.suffix)) for e in held_out(trained)]
    assert any(base != tuned for base, tuned in pairs), pairs
    # The adapter is chosen per request: asking the base model again gives the base model's text.
    e = held_out(trained)[0]
    assert complete(adapter_server, "tiny", e.prefix, e.suffix) == pairs[0][0]


def test_chat_works_with_the_adapter_and_unknown_models_get_a_404(adapter_server):
    r = httpx.post(f"{adapter_server.url}/v1/chat/completions", timeout=120, json={
        "model": "shop", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
    assert r.status_code == 200 and r.json()["model"] == "shop"
    r = httpx.post(f"{adapter_server.url}/v1/completions", timeout=30,
                   json={"model": "shopp", "prompt": "x", "max_tokens": 2})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model" and "shop" in error["message"]


def test_the_merged_model_serves_like_a_model_of_its_own(served, trained):
    merged_server = served.merged
    assert [m["id"] for m in httpx.get(f"{merged_server.url}/v1/models").json()["data"]] == ["shop-merged"]
    merged = [complete(merged_server, "shop-merged", e.prefix, e.suffix) for e in held_out(trained)]
    base = [complete(served.adapter, "tiny", e.prefix, e.suffix) for e in held_out(trained)]
    assert merged != base


def test_bad_lora_options_stop_serve_with_one_clear_line(tiny_model_path, trained, tmp_path):
    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CODEFILL, "serve", "--model", tiny_model_path, "--engine", "hf", *args],
                              capture_output=True, text=True, timeout=120)

    r = serve("--lora", str(trained.out))
    assert r.returncode == 1 and "--lora expects NAME=DIR" in r.stderr
    r = serve("--lora", f"shop={tmp_path}")
    assert r.returncode == 1 and "has no adapter_config.json" in r.stderr
    r = serve("--lora", f"shop={trained.out / 'merged'}")
    assert r.returncode == 1 and "serve it with --model" in r.stderr
    if vllm_available():  # the rank is checked before vLLM starts
        r = subprocess.run([CODEFILL, "serve", "--model", tiny_model_path, "--engine", "vllm", "--lora",
                            f"shop={trained.out}", "--max-lora-rank", "8"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "'shop' has rank 16, above --max-lora-rank 8" in r.stderr
