"""Pinned registry artifacts: downloaded once, checked against their sha256, read from a cache.

An `Artifact` names one file of a package registry by version and sha256:

* ``pypi``: the sdist, as ``pip download --no-deps --no-binary :all: NAME==VERSION`` writes it;
* ``npm``: the tarball, as ``npm pack NAME@VERSION`` writes it;
* ``debian``: the ``.deb``, as ``apt-get download NAME=VERSION`` writes it (the version must be
  in the machine's apt lists; source-shipping ``-dev`` packages such as ``golang-*-dev`` and
  ``librust-*-dev`` carry real code).

`fetch_artifact` keeps it at ``CACHE/<registry>/<file>``: a file that is missing is downloaded
(into a temporary folder, checked, then renamed into place), a file that is there is checked
again, so a run after the first needs no network and never reads a file that is not the pinned
one. `archive_texts` reads the text files of an sdist/npm tarball, a ``.deb`` (its data
archive), or a zip/jar, optionally inside a member archive (e.g. a ``src.zip`` shipped in a
``.deb``). `write_tree` writes files under a folder that appears whole or not at all.

Used by `codefill bench replay` (its pinned edit histories) and `codefill eval fim` (its
pinned multi-language sources).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REGISTRIES = ("pypi", "npm", "debian")
DOWNLOAD_TIMEOUT_S = 300


class ArtifactError(RuntimeError):
    """A pinned artifact cannot be had: the download failed, or the file is not the pinned one."""


@dataclass(frozen=True)
class Artifact:
    registry: str  # "pypi", "npm" or "debian"
    name: str
    version: str
    file: str  # the file name the registry's client writes
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.registry})"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_path(artifact: Artifact, cache_dir: Path) -> Path:
    return cache_dir / artifact.registry / artifact.file


def fetch_artifact(artifact: Artifact, cache_dir: Path) -> Path:
    """The artifact in the cache, downloaded first if missing; checksum-verified either way."""
    target = artifact_path(artifact, cache_dir)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            got = _download(artifact, Path(tmp))
            digest = sha256_of(got)
            if digest != artifact.sha256:
                raise ArtifactError(f"{artifact.name} {artifact.version}: the downloaded {got.name} has sha256 "
                                    f"{digest}, not the pinned {artifact.sha256}")
            os.replace(got, target)
    else:
        digest = sha256_of(target)
        if digest != artifact.sha256:
            raise ArtifactError(f"{target} has sha256 {digest}, not the pinned {artifact.sha256} "
                                "(delete it to download it again)")
    return target


def download_command(artifact: Artifact, into: Path) -> list[str]:
    """The registry client's command that writes the artifact into `into`."""
    spec = f"{artifact.name} {artifact.version}"
    if artifact.registry == "pypi":
        return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                f"{artifact.name}=={artifact.version}", "--dest", str(into)]
    if artifact.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ArtifactError(f"{spec} comes from npm, and npm is not installed")
        return [npm, "pack", "--silent", f"{artifact.name}@{artifact.version}", "--pack-destination", str(into)]
    if artifact.registry == "debian":
        apt = shutil.which("apt-get")
        if apt is None:
            raise ArtifactError(f"{spec} is a Debian package, and apt-get is not installed")
        return [apt, "download", "--quiet", f"{artifact.name}={artifact.version}"]
    raise ArtifactError(f"{artifact.name}: unknown registry {artifact.registry!r} ({', '.join(REGISTRIES)})")


def _download(artifact: Artifact, into: Path) -> Path:
    cmd = download_command(artifact, into)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, cwd=into)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ArtifactError(f"could not download {artifact.label}: {exc}") from exc
    got = into / artifact.file
    if done.returncode != 0 or not got.exists():
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        hint = " (is the version in the apt lists? `apt-get update`, `apt-cache policy NAME`)" \
            if artifact.registry == "debian" else ""
        raise ArtifactError(f"could not download {artifact.label} ({' '.join(cmd[:3])} ... exited "
                            f"{done.returncode}): {' '.join(detail) or 'no output'}{hint}; "
                            "it needs the network once, then reads its cache")
    return got


# --- reading archives ----------------------------------------------------------------

Member = tuple[str, int, Callable[[], bytes]]  # path (no leading "./"), size, read()


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _tar_members(tar: tarfile.TarFile) -> Iterator[Member]:
    for member in tar.getmembers():
        if member.isfile():
            def read(m: tarfile.TarInfo = member) -> bytes:
                f = tar.extractfile(m)
                return f.read() if f is not None else b""
            yield _clean(member.name), member.size, read


def _zip_members(zf: zipfile.ZipFile) -> Iterator[Member]:
    for info in zf.infolist():
        if not info.is_dir():
            yield _clean(info.filename), info.file_size, lambda i=info: zf.read(i)


def _deb_data(data: bytes, where: str) -> tarfile.TarFile:
    """The data archive of a .deb (an `ar` archive: debian-binary, control.tar.*, data.tar.*)."""
    if not data.startswith(b"!<arch>\n"):
        raise ArtifactError(f"{where} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".zst"):
            return tarfile.open(fileobj=io.BytesIO(_unzstd(body, where)), mode="r:")
        return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
    raise ArtifactError(f"{where} has no data.tar member")


def _unzstd(body: bytes, where: str) -> bytes:
    zstd = shutil.which("zstd")
    if zstd is None:
        raise ArtifactError(f"{where} is compressed with zstd, and the zstd program is not installed")
    return subprocess.run([zstd, "-dc"], input=body, capture_output=True, check=True).stdout


def _members(data: bytes, name: str) -> Iterator[Member]:
    lower = name.lower()
    if lower.endswith(".deb"):
        with _deb_data(data, name) as tar:
            yield from _tar_members(tar)
    elif lower.endswith((".zip", ".jar")):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            yield from _zip_members(zf)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            yield from _tar_members(tar)


def matches(path: str, patterns: Sequence[str]) -> bool:
    """fnmatch on the whole path ("*" crosses "/")."""
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def archive_texts(archive: Path, include: Sequence[str], exclude: Sequence[str] = (), *,
                  inner: str | None = None, max_bytes: int = 512 * 1024) -> dict[str, str]:
    """The UTF-8 text files of `archive` whose paths match `include` and not `exclude`, by path
    (leading "./" dropped, line ends made "\\n"); with `inner`, those of the archive at that path
    inside it. Files over `max_bytes` and files that do not decode are left out."""
    data = archive.read_bytes()
    name = archive.name
    if inner is not None:
        found = next((read() for path, _size, read in _members(data, name) if path == _clean(inner)), None)
        if found is None:
            raise ArtifactError(f"{archive} has no {inner}")
        data, name = found, inner
    files: dict[str, str] = {}
    for path, size, read in _members(data, name):
        if size > max_bytes or ".." in path.split("/") or not matches(path, include) or matches(path, exclude):
            continue
        try:
            text = read().decode("utf-8")
        except UnicodeDecodeError:
            continue
        files[path] = text.replace("\r\n", "\n").replace("\r", "\n")
    return files


def write_tree(files: Mapping[str, str], root: Path) -> Path:
    """The files under `root` (built beside and renamed into place, so a tree that exists is whole)."""
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    for path, text in files.items():
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    try:
        tmp.rename(root)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return root
