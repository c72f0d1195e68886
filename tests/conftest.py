"""Session-wide fixtures: models are prepared once, engines start once per session.

Engine start takes 20-60 s on the CPU build of vLLM, so every test that needs
an engine shares the one started here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from codefill.model.engines import vllm_available


@pytest.fixture(scope="session")
def sandbox():
    """The bubblewrap sandbox of model-written code (checked once). Without bwrap installed the
    tests that run programs skip, unless CODEFILL_REQUIRE_SANDBOX=1 (set by .ci/run): then they fail.
    bwrap installed but unable to make the sandbox always fails."""
    from codefill.jobs.sandbox import checked_sandbox, sandbox_unavailable_reason

    why = sandbox_unavailable_reason()
    if why is not None:
        if shutil.which("bwrap") is None and os.environ.get("CODEFILL_REQUIRE_SANDBOX") != "1":
            pytest.skip(why)
        pytest.fail(why)
    return checked_sandbox()


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from transformers import AutoTokenizer

    from codefill.model.weights.embedded import embedded_tokenizer_dir

    return AutoTokenizer.from_pretrained(str(embedded_tokenizer_dir()))


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    from codefill.model.weights.tiny import tiny_model_dir

    return str(tiny_model_dir())


@pytest.fixture(scope="session")
def embedded_model_path() -> str:
    from codefill.model.weights.resolve import resolve_model

    return resolve_model(None, progress=True).path_or_id


@pytest.fixture(scope="session")
async def hf_engine(tiny_model_path):
    from codefill.model.engines.hf_engine import HfEngine

    engine = HfEngine(tiny_model_path, max_model_len=2048)
    await engine.start()
    yield engine
    await engine.shutdown()


@pytest.fixture(scope="session")
async def vllm_engine(tiny_model_path):
    if not vllm_available():
        pytest.skip("vLLM is not installed")
    from codefill.model.engines.vllm_engine import VllmEngine

    engine = VllmEngine(tiny_model_path, max_model_len=2048, max_num_seqs=32)
    await engine.start()
    yield engine
    await engine.shutdown()


@pytest.fixture(params=["hf", "vllm"])
def engine(request):
    """Each contract test runs once per engine."""
    return request.getfixturevalue(f"{request.param}_engine")


def pytest_collection_modifyitems(config, items):
    # Keep one engine alive at a time: run all tests of one engine, then the other.
    def key(item):
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("engine") if callspec else None
        return {"hf": 0, "vllm": 1}.get(param, 2)

    items.sort(key=key)


REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
