"""With API keys set, everything but /health needs one of them."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.servers import ServerProcess


@pytest.fixture(scope="module")
def keyed_server(tiny_model_path):
    server = ServerProcess("--model", tiny_model_path, "--engine", "hf", "--served-model-name", "tiny",
                           "--api-key", "key-one", env={"CODEFILL_API_KEY": "key-two,key-three"})
    yield server
    server.stop()


def test_health_stays_open(keyed_server):
    assert httpx.get(f"{keyed_server.url}/health").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "key-one"}])
def test_requests_without_a_valid_key_get_401(keyed_server, headers):
    for method, path in (("POST", "/v1/completions"), ("GET", "/v1/models"), ("GET", "/metrics")):
        r = httpx.request(method, f"{keyed_server.url}{path}", headers=headers,
                          json={"model": "tiny", "prompt": "x", "max_tokens": 1})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", ["key-one", "key-two", "key-three"])
def test_every_configured_key_works(keyed_server, key):
    c = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=key, max_retries=0)
    assert c.completions.create(model="tiny", prompt="x", max_tokens=1).usage.completion_tokens == 1


def test_openai_client_without_key_sees_authentication_error(keyed_server):
    c = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_keys_never_reach_the_log(keyed_server):
    httpx.get(f"{keyed_server.url}/v1/models", headers={"Authorization": "Bearer key-two"})
    log = keyed_server.log_tail(10_000)
    assert "key-one" not in log and "key-two" not in log
