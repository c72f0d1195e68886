"""The language server's settings: one dataclass, merged from three layers.

Layers, each overriding the one before: the command line, the client's
`initializationOptions`, then every `workspace/didChangeConfiguration` (section
"codefill"). Editors write JSON/Lua settings in camelCase (`maxTokens`), the
command line in snake_case; both spellings are accepted. A bad value never
takes effect: it is reported and the old value stays, so a typo in an editor's
config cannot leave the server without a working setting.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

SECTION = "codefill"


def default_data_dir() -> str:
    """Where telemetry goes: $XDG_DATA_HOME/codefill, else ~/.local/share/codefill."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "codefill")


@dataclass(frozen=True)
class Settings:
    url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    model: str | None = None  # None: the first model the server lists
    max_tokens: int = 128
    temperature: float = 0.0
    debounce_ms: int = 150
    context_tokens: int = 2048
    crossfile_tokens: int = 1024
    # The window of code around the cursor starts on a multiple of this many lines, so that
    # prompts share their beginning while the user types (the server's prefix cache); 1: off.
    window_snap_lines: int = 16
    # Share of the window's budget that goes to the code after the cursor. Everything after
    # the cursor is computed again at every keystroke (the prefix cache stops at the first
    # changed token), so a small share keeps most of the prompt cached.
    suffix_percent: int = 15
    # Automatic requests are skipped when the cursor's line has more than this many
    # non-closing characters right of the cursor (a completion there rarely fits).
    max_right_chars: int = 2
    raw_fim_template: str | None = None  # set: build the FIM prompt here, for servers without `suffix`
    timeout_ms: int = 10_000
    cache_size: int = 256
    telemetry: bool = True
    # Off until next-edit models are proven in editors: FIM ghost text stays the default path.
    next_edit: bool = False
    # A next edit is asked only once the user has paused this long after an edit: a
    # suggestion of the rest of a change is worth the wait, one per keystroke is not.
    next_edit_debounce_ms: int = 400
    data_dir: str = field(default_factory=default_data_dir)

    def merged(self, overrides: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """These settings with `overrides` applied, and one message per key refused."""
        if not isinstance(overrides, Mapping):
            return self, [f"settings must be an object, got {type(overrides).__name__}"]
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for raw_key, value in overrides.items():
            name = snake_case(str(raw_key))
            parse = _PARSERS.get(name)
            if parse is None:
                problems.append(f"unknown setting {raw_key!r} ignored (known: {', '.join(known_keys())})")
                continue
            try:
                changes[name] = parse(value)
            except (ValueError, TypeError) as exc:
                problems.append(f"setting {raw_key!r} = {value!r} refused ({exc}); "
                                f"keeping {getattr(self, name)!r}")
        return dataclasses.replace(self, **changes), problems

    def redacted(self) -> dict[str, Any]:
        """For logs: everything but the API key."""
        values = dataclasses.asdict(self)
        if values["api_key"]:
            values["api_key"] = "***"
        return values


def snake_case(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower().replace("-", "_")


def known_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


# --- value parsers: return the clean value or raise ValueError with the reason ---

def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    parsed = urlparse(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("expected an http(s) URL such as http://127.0.0.1:8000")
    return value.strip().rstrip("/")


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string or null")
    return value


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError("expected an integer")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int):
            raise TypeError("expected an integer")
        if not low <= value <= high:
            raise ValueError(f"expected {low}..{high}")
        return value

    return parse


def _temperature(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("expected a number")
    number = float(value)
    if not 0.0 <= number <= 2.0:
        raise ValueError("expected 0..2")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise TypeError("expected true or false")


def _raw_template(value: Any) -> str | None:
    name = _optional_text(value)
    if name is None:
        return None
    from codefill.model.templates.fim import FIM_TEMPLATES

    if name.strip().lower() not in FIM_TEMPLATES:
        raise ValueError(f"unknown FIM template; known: {', '.join(sorted(FIM_TEMPLATES))}")
    return name.strip().lower()


def _directory(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("expected a folder path")
    return str(Path(value.strip()).expanduser())


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "url": _url,
    "api_key": _optional_text,
    "model": _optional_text,
    "max_tokens": _int_in(1, 8192),
    "temperature": _temperature,
    "debounce_ms": _int_in(0, 10_000),
    "context_tokens": _int_in(64, 131_072),
    "crossfile_tokens": _int_in(0, 131_072),
    "window_snap_lines": _int_in(1, 1024),
    "suffix_percent": _int_in(0, 90),
    "max_right_chars": _int_in(0, 10_000),
    "raw_fim_template": _raw_template,
    "timeout_ms": _int_in(100, 600_000),
    "cache_size": _int_in(0, 100_000),
    "telemetry": _bool,
    "next_edit": _bool,
    "next_edit_debounce_ms": _int_in(0, 10_000),
    "data_dir": _directory,
}
assert set(_PARSERS) == set(known_keys()), "every setting needs a parser"
