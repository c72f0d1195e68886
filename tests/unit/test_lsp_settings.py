"""Settings: the three layers, both key spellings, refused values keep the old value."""

from __future__ import annotations

import argparse

import pytest

from codefill.commands.lsp import add_lsp_parser, settings_from_args
from codefill.lsp.settings import Settings, default_data_dir, known_keys, snake_case


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_lsp_parser(parser.add_subparsers())
    return parser.parse_args(["lsp", *argv])


def test_camel_and_snake_case_keys():
    assert snake_case("maxTokens") == "max_tokens"
    assert snake_case("max_tokens") == "max_tokens"
    assert snake_case("rawFimTemplate") == "raw_fim_template"
    assert snake_case("apiKey") == "api_key"
    assert snake_case("debounce-ms") == "debounce_ms"
    new, problems = Settings().merged({"maxTokens": 7, "debounce_ms": 0, "url": "http://gpu-box:8000/"})
    assert (new.max_tokens, new.debounce_ms, new.url) == (7, 0, "http://gpu-box:8000")
    assert problems == []


def test_unknown_keys_are_reported_and_ignored():
    base = Settings()
    new, problems = base.merged({"maxTokenz": 5})
    assert new == base
    assert len(problems) == 1 and "unknown setting 'maxTokenz'" in problems[0]


@pytest.mark.parametrize("key, value", [
    ("maxTokens", 0), ("maxTokens", "many"), ("maxTokens", True), ("maxTokens", 1.5),
    ("temperature", 3), ("temperature", "hot"), ("url", "gpu-box:8000"), ("url", 8000),
    ("rawFimTemplate", "gpt"), ("debounceMs", -1), ("telemetry", "maybe"), ("dataDir", ""),
    ("model", 5),
])
def test_bad_values_are_refused_and_the_old_value_kept(key, value):
    base, _ = Settings().merged({"maxTokens": 50, "temperature": 0.2, "url": "http://a:1",
                                 "rawFimTemplate": "qwen", "debounceMs": 10, "model": "m"})
    new, problems = base.merged({key: value, "contextTokens": 999})
    assert len(problems) == 1 and "refused" in problems[0] and "keeping" in problems[0]
    assert getattr(new, snake_case(key)) == getattr(base, snake_case(key))
    assert new.context_tokens == 999  # the good keys beside it still apply


def test_null_clears_optional_settings():
    base, _ = Settings().merged({"model": "m", "apiKey": "k", "rawFimTemplate": "starcoder"})
    assert (base.model, base.api_key, base.raw_fim_template) == ("m", "k", "starcoder")
    new, problems = base.merged({"model": None, "apiKey": "", "rawFimTemplate": None})
    assert problems == [] and (new.model, new.api_key, new.raw_fim_template) == (None, None, None)


def test_not_an_object():
    new, problems = Settings().merged(["maxTokens", 5])  # type: ignore[arg-type]
    assert new == Settings() and "must be an object" in problems[0]


def test_every_setting_is_documented_on_the_command_line_or_in_the_section():
    assert set(known_keys()) >= {"url", "api_key", "model", "max_tokens", "debounce_ms", "context_tokens",
                                 "crossfile_tokens", "max_right_chars", "temperature", "raw_fim_template",
                                 "data_dir", "telemetry"}


def test_command_line_layer(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEFILL_API_KEY", raising=False)
    s = settings_from_args(_args("--url", "http://gpu:9000", "--max-tokens", "32", "--debounce-ms", "0",
                                 "--context-tokens", "4096", "--crossfile-tokens", "0", "--temperature", "0.1",
                                 "--raw-fim-template", "deepseek", "--data-dir", str(tmp_path),
                                 "--model", "m", "--no-telemetry"))
    assert (s.url, s.max_tokens, s.debounce_ms, s.context_tokens, s.crossfile_tokens, s.temperature,
            s.raw_fim_template, s.data_dir, s.model, s.telemetry) == (
        "http://gpu:9000", 32, 0, 4096, 0, 0.1, "deepseek", str(tmp_path), "m", False)
    defaults = settings_from_args(_args())
    assert defaults == Settings()


def test_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("CODEFILL_API_KEY", "k1,k2")
    assert settings_from_args(_args()).api_key == "k1"
    assert settings_from_args(_args("--api-key", "mine")).api_key == "mine"


def test_bad_command_line_values_fail_before_the_editor_connects():
    with pytest.raises(ValueError, match="max_tokens"):
        settings_from_args(_args("--max-tokens", "0"))
    with pytest.raises(ValueError, match="raw_fim_template"):
        settings_from_args(_args("--raw-fim-template", "nope"))


def test_data_dir_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == str(tmp_path / "codefill")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir().endswith("/.local/share/codefill")


def test_redacted_hides_the_key():
    s, _ = Settings().merged({"apiKey": "secret"})
    assert s.redacted()["api_key"] == "***" and "secret" not in repr(s.redacted())
