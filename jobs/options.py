"""The command-line values the offline jobs check themselves when they run: `--extra-body`'s JSON object.

Only the standard library, so a command can import it at load time and `codefill --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Any


def extra_body(text: str | None) -> dict[str, Any] | None:
    """`--extra-body JSON` (or None): checked when the command runs, so the error names the option."""
    if text is None:
        return None
    try:
        extra = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--extra-body is not valid JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise ValueError("--extra-body must be a JSON object")
    return extra
