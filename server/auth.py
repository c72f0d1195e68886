"""API keys: where they come from, and checking a request's bearer token.

Keys come from `--api-key` (repeatable), `--api-key-file FILE` (one key per line,
`#` comments) and `CODEFILL_API_KEY` (comma-separated). A file keeps keys out of
`ps` and shell history, which a command-line flag does not.

Keys are secrets: nothing here logs them, and the matched key is known to the
rest of the server only by its position (`KeyId`), which is what the per-key
concurrency cap counts on.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

ENV_VAR = "CODEFILL_API_KEY"

# Paths anyone may reach with keys set: load balancers and container runtimes
# probe /health without credentials.
OPEN_PATHS = frozenset({"/health"})


class KeyFileError(ValueError):
    """The key file cannot be read or holds no key; the server must not start open by accident."""


def read_key_file(path: str | Path) -> list[str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read the API key file {p}: {exc.strerror or exc}") from exc
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(line)
    if not keys:
        # An empty file meant as "these are the keys" must not silently turn auth off.
        raise KeyFileError(f"the API key file {p} holds no key (one key per line, # starts a comment)")
    return keys


def collect_api_keys(
    flags: Iterable[str] | None = None,
    files: Iterable[str | Path] | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """Every configured key, once each, in the order given (flags, files, environment)."""
    keys = [k.strip() for k in (flags or ()) if k and k.strip()]
    for f in files or ():
        keys += read_key_file(f)
    env = (os.environ if environ is None else environ).get(ENV_VAR, "")
    keys += [k.strip() for k in env.split(",") if k.strip()]
    for k in keys:
        if any(c.isspace() for c in k):
            # The header parser splits on whitespace, so such a key could never match.
            raise KeyFileError("an API key contains whitespace; keys must be single tokens")
    return tuple(dict.fromkeys(keys))


def bearer_token(header: str | None) -> str | None:
    if not header or not header[:7].lower() == "bearer ":
        return None
    token = header[7:].strip()
    return token or None


def match_key(header: str | None, keys: Sequence[str]) -> int | None:
    """The position of the key the `Authorization` header carries, or None.

    Every key is compared, always, with a constant-time comparison: neither the
    position of the matching key nor how much of a wrong key was right shows in
    the time the check takes.
    """
    given = (bearer_token(header) or "").encode()
    found: int | None = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(given, key.encode()) and found is None:
            found = i
    if not given:
        return None
    return found


def authorized(header: str | None, keys: Sequence[str]) -> bool:
    return match_key(header, keys) is not None


# Flags whose value is a secret (serve's --api-key; bench/eval/lsp send one as a client).
_SECRET_FLAGS = ("--api-key", "--compare-api-key")


def redact_argv(argv: list[str]) -> list[str]:
    """The command line with key values replaced by ***, for reports that record how they
    were made (bench and eval write it into their JSON and Markdown)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
        elif arg in _SECRET_FLAGS:
            out.append(arg)
            hide_next = True
        elif arg.startswith(tuple(f"{flag}=" for flag in _SECRET_FLAGS)):
            out.append(arg.split("=", 1)[0] + "=***")
        else:
            out.append(arg)
    return out
