from __future__ import annotations

import pytest

from codefill.model.engines import vllm_available
from tests.e2e.servers import ServerProcess


def _serve(*args: str, **kw):
    server = ServerProcess(*args, **kw)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_vllm_server(tiny_model_path):
    if not vllm_available():
        pytest.skip("vLLM is not installed")
    yield from _serve("--model", tiny_model_path, "--engine", "vllm", "--max-model-len", "2048",
                      "--served-model-name", "tiny")


@pytest.fixture(scope="session")
def tiny_hf_server(tiny_model_path):
    yield from _serve("--model", tiny_model_path, "--engine", "hf", "--max-model-len", "2048",
                      "--served-model-name", "tiny")


@pytest.fixture(params=["hf", "vllm"])
def tiny_server(request):
    return request.getfixturevalue(f"tiny_{request.param}_server")


@pytest.fixture(scope="session")
def embedded_server(embedded_model_path):
    yield from _serve("--max-model-len", "4096")


@pytest.fixture(scope="module")
def fake_server():
    """A fake FIM completion server (tests/lsp_fakes.py) for one module's language-server tests."""
    from tests.fakes import FakeServer
    from tests.lsp_fakes import FimFake

    fim = FimFake()
    with FakeServer(fim.app()) as server:
        fim.url = server.url  # type: ignore[attr-defined]
        yield fim
