"""Server pieces that need no engine: CLI defaults, API keys, error messages."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from codefill.server.auth import authorized
from codefill.commands.cli import build_parser
from codefill.server.errors import _describe_validation, error_body
from codefill.server.validation import reject_unsupported, stop_list
from codefill.server.errors import APIError
from codefill.server.protocol import UNSUPPORTED_COMPLETION_FIELDS, CompletionRequest


def test_serve_binds_to_loopback_by_default():
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.engine == "auto"


def test_bearer_keys_compare_exactly():
    keys = ("alpha", "beta")
    assert authorized("Bearer alpha", keys)
    assert authorized("bearer beta", keys)
    assert not authorized("Bearer alph", keys)
    assert not authorized("alpha", keys)
    assert not authorized(None, keys)


def test_error_body_has_openai_fields():
    body = error_body(404, "no such model", "model_not_found", "model")
    assert body == {"error": {"message": "no such model", "type": "not_found_error",
                              "param": "model", "code": "model_not_found"}}


def _validation_error(payload: dict) -> RequestValidationError:
    try:
        CompletionRequest.model_validate(payload)
    except ValidationError as exc:
        return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    raise AssertionError("expected a validation error")


def test_unknown_fields_are_named():
    message, param = _describe_validation(_validation_error({"model": "m", "prompt": "p", "foo": 1, "bar": 2}))
    assert message.startswith("unsupported field(s): bar, foo")
    assert param == "bar"


def test_unsupported_openai_fields_are_refused_only_when_used():
    reject_unsupported({"echo": False, "logprobs": None, "presence_penalty": 0.0}, UNSUPPORTED_COMPLETION_FIELDS)
    with pytest.raises(APIError) as info:
        reject_unsupported({"echo": True, "best_of": 3}, UNSUPPORTED_COMPLETION_FIELDS)
    assert "echo" in info.value.message and "best_of" in info.value.message


def test_stop_accepts_a_string_or_a_list():
    assert stop_list("\n") == ("\n",)
    assert stop_list(["a", "", "b"]) == ("a", "b")
    assert stop_list(None) == ()
