"""Option helpers the `codefill` commands share: argparse types (`codefill bench --extra-body`'s among them),
the default `--out`.

Only the standard library: every command module imports this at load time, so
`codefill --help` stays fast, and it imports no command module, so the commands
never import each other for a helper.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from pathlib import Path
from typing import Any


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive(text: str) -> int:
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected 0 (no limit) or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected more than 0 seconds")
    return value


def comma_list(text: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [x.strip() for x in text.split(",") if x.strip()]


def json_object(text: str) -> dict[str, Any]:
    """A JSON object option checked as it is parsed (`codefill bench --extra-body`)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def default_out(name: str, today: _dt.date | None = None) -> Path:
    """`--out` when not given: `<name>-<date>.json` in the current directory (the .md, .png go beside it)."""
    return Path.cwd() / f"{name}-{(today or _dt.date.today()).isoformat()}.json"
