"""Turn what the user passed as `--model` into something vLLM/transformers can load.

    (nothing), "embedded", "qwen2.5-coder-0.5b-instruct"  -> the embedded model, prepared once
    a folder with config.json                             -> used as it is
    a .gguf file                                          -> converted once, cached by content hash
    "org/name" that is not a local path                   -> a hub id, passed through unchanged
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from codefill.model.weights.convert import convert_gguf_to_hf, model_identity
from codefill.model.weights.embedded import EMBEDDED_SERVED_NAME, prepare_embedded_model
from codefill.model.weights.paths import marker_matches, models_dir, sha256_file

EMBEDDED_ALIASES = frozenset({"embedded", EMBEDDED_SERVED_NAME})

# Hub ids are "org/name"; a leading "." "/" or "~" means the user meant a path.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


class ModelNotFoundError(FileNotFoundError):
    """`--model` names a local path that does not exist or holds no model."""


@dataclass(frozen=True)
class ResolvedModel:
    path_or_id: str  # what to hand to vLLM / transformers
    served_name: str  # the default name clients put in `model`
    source: str  # "embedded", "local-dir", "gguf" or "hub"


def resolve_model(spec: str | None, progress: bool = True) -> ResolvedModel:
    """Resolve a model spec; prepares (assembles/converts) local models on first use."""
    if spec is None or spec.strip() in EMBEDDED_ALIASES:
        path = prepare_embedded_model(progress=progress)
        return ResolvedModel(str(path), EMBEDDED_SERVED_NAME, "embedded")
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_dir():
        return _local_dir(path, spec)
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return _local_gguf(path, progress)
        raise ModelNotFoundError(
            f"--model {spec!r} is a file but not a .gguf file; pass the folder that holds its "
            "config.json, or a .gguf file."
        )
    if _HUB_ID.fullmatch(spec):
        # Not on disk: vLLM/transformers fetch it from the hub (where a network exists).
        return ResolvedModel(spec, spec, "hub")
    raise ModelNotFoundError(
        f"Model {spec!r} was not found: there is no file or folder {path.resolve()}. Pass a folder with "
        "config.json, a .gguf file, a hub id such as 'Qwen/Qwen2.5-Coder-1.5B-Instruct' (needs network), "
        f"or leave --model out to use the embedded {EMBEDDED_SERVED_NAME}."
    )


def _local_dir(path: Path, spec: str) -> ResolvedModel:
    if not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        hint = f" It holds {ggufs[0].name}: pass that file instead." if ggufs else ""
        raise ModelNotFoundError(
            f"--model {spec!r} is a folder but has no config.json, so it is not a Hugging Face model folder.{hint}"
        )
    path = path.resolve()
    return ResolvedModel(str(path), path.name, "local-dir")


def _local_gguf(path: Path, progress: bool) -> ResolvedModel:
    path = path.resolve()
    sha = _cached_sha256(path, progress)
    out_dir = models_dir() / f"gguf-{sha[:12]}"
    if not marker_matches(out_dir, model_identity(sha)):
        convert_gguf_to_hf(path, out_dir, progress=progress, source_sha256=sha)
    return ResolvedModel(str(out_dir), path.stem, "gguf")


def _cached_sha256(path: Path, progress: bool) -> str:
    """sha256 of a user's GGUF, remembered by (path, size, mtime) so a restart does not re-read it."""
    index_path = models_dir() / ".gguf-hashes.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    entry = index.get(str(path))
    if isinstance(entry, dict) and {k: entry.get(k) for k in key} == key and entry.get("sha256"):
        return entry["sha256"]
    sha = sha256_file(path, progress=progress)
    index[str(path)] = {**key, "sha256": sha}
    tmp = index_path.with_name(f"{index_path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(index, indent=1) + "\n")
    os.replace(tmp, index_path)  # whole-file swap: a concurrent reader never sees half an index
    return sha
