"""vLLM engine arguments passed through from the command line, so that nothing vLLM
offers (parallelism across machines, quantized KV caches, compilation) waits on a
flag of ours. Checked against vLLM's own AsyncEngineArgs before the model loads: a
typo fails in a second, not after minutes of loading.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class EngineArgsError(ValueError):
    pass


def engine_args(*, file: str | None = None, pairs: Iterable[str] = (), pipeline_parallel_size: int | None = None,
                data_parallel_size: int | None = None, distributed_executor_backend: str | None = None,
                known: Iterable[str] | None = None) -> dict[str, Any]:
    """The file's mapping, then the named flags, then each KEY=VALUE, later ones winning."""
    out: dict[str, Any] = {}
    if file is not None:
        out.update(_from_file(Path(file)))
    named = {"pipeline_parallel_size": pipeline_parallel_size, "data_parallel_size": data_parallel_size,
             "distributed_executor_backend": distributed_executor_backend}
    out.update({k: v for k, v in named.items() if v is not None})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EngineArgsError(f"--engine-arg takes KEY=VALUE, got {pair!r}")
        out[_key(key)] = _value(value)
    out = {_key(k): v for k, v in out.items()}
    fields = set(known) if known is not None else vllm_engine_fields()
    if fields:
        for key in out:
            if key not in fields:
                near = difflib.get_close_matches(key, sorted(fields), n=3)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise EngineArgsError(f"{key!r} is not a vLLM engine argument{hint}")
    return out


def vllm_engine_fields() -> set[str]:
    """AsyncEngineArgs' fields, or nothing when vLLM is not installed (the hf engine ignores them)."""
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except ImportError:
        return set()
    return {f.name for f in dataclasses.fields(AsyncEngineArgs)}


def _key(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _from_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EngineArgsError(f"--engine-args-file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the file's fault, said with its name
        raise EngineArgsError(f"--engine-args-file {path} does not parse: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EngineArgsError(f"--engine-args-file {path} must hold a mapping of engine arguments")
    return data
