"""With API keys set, everything but /health needs one of them (keys from a flag, a file and
the environment), and no key ever reaches the server's log."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.servers import ServerProcess


KEYS = ("key-one", "key-two", "key-three", "file-key-four", "file-key-five")


@pytest.fixture(scope="module")
def keyed_server(tiny_model_path, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("keys") / "api-keys"
    key_file.write_text("# codefill keys, one per line\nfile-key-four\n\n# revoked: old-key\nfile-key-five\n")
    # Debug logging: the most the server ever writes, and still no key in it.
    server = ServerProcess("--model", tiny_model_path, "--engine", "hf", "--served-model-name", "tiny",
                           "--api-key", "key-one", "--api-key-file", str(key_file), "--log-level", "debug",
                           env={"CODEFILL_API_KEY": "key-two,key-three"})
    yield server
    server.stop()


def test_health_stays_open(keyed_server):
    assert httpx.get(f"{keyed_server.url}/health").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "key-one"},
                                     {"Authorization": "Bearer old-key"}, {"Authorization": "Bearer key-one-"}])
def test_requests_without_a_valid_key_get_401(keyed_server, headers):
    for method, path in (("POST", "/v1/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
                         ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs")):
        r = httpx.request(method, f"{keyed_server.url}{path}", headers=headers,
                          json={"model": "tiny", "prompt": "x", "max_tokens": 1})
        assert r.status_code == 401
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["code"] == "invalid_api_key" and err["type"] == "authentication_error"


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_works(keyed_server, key):
    c = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=key, max_retries=0)
    assert c.completions.create(model="tiny", prompt="x", max_tokens=1).usage.completion_tokens == 1


def test_openai_client_without_key_sees_authentication_error(keyed_server):
    c = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_keys_never_reach_the_log(keyed_server):
    for key in (*KEYS, "wrong-key-six"):
        httpx.get(f"{keyed_server.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        httpx.post(f"{keyed_server.url}/v1/completions", headers={"Authorization": f"Bearer {key}"},
                   json={"model": "tiny", "prompt": "x", "max_tokens": 1})
    log = keyed_server.log_tail(100_000)
    assert "5 configured" in log  # the count is logged, the keys are not
    for secret in (*KEYS, "wrong-key-six", "old-key"):
        assert secret not in log
