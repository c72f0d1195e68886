"""Edit sessions from real code we did not write.

The pinned histories (`histories.json`) are consecutive released versions of PyPI and
npm packages, each artifact named by version and sha256; `pip download` and `npm pack`
fetch them once into a cache (`$CODEFILL_HOME/replay`), and every later run reads the
cache, checks the checksums and needs no network.

Between two versions of a file, each block of added or changed lines is one edit
session: the document is the newer file with that block's lines taken out (the
cursor on an empty line where they were, indented as their first line), and the
user types the block back, so the session ends on the newer file exactly. Only the
block's first lines up to `max_chars` are typed (the rest stay after the cursor);
blocks of almost nothing (blank lines, a lone bracket) and files that look
generated are left out.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import random
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# the download/check/cache code is shared with `codefill eval fim`
from codefill.jobs.evaluation.artifacts import Artifact, ArtifactError, fetch_artifact, write_tree
from codefill.jobs.evaluation.artifacts import sha256_of as sha256_of

HISTORIES_FILE = Path(__file__).with_name("histories.json")
LANGUAGES = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
             ".ts": "typescript", ".mts": "typescript", ".cts": "typescript"}
DEFAULT_MAX_CHARS = 200
DEFAULT_MIN_CHARS = 24  # non-blank characters a block needs to be worth typing
MAX_LINE_CHARS = 200  # longer lines are minified or generated code, not typing
MAX_FILE_BYTES = 512 * 1024


class HistoryError(RuntimeError):
    """A pinned history cannot be had: download failed, or the file is not the pinned one."""


@dataclass(frozen=True)
class EditSession:
    id: str  # "<package> <old>-><new> <path>:<line>"
    path: str  # the file, relative to the workspace
    language: str
    before: str  # the document left of the cursor when typing starts
    text: str  # what the user types
    after: str  # the document right of the cursor
    workspace: str | None = None  # the package's newer version on disk, for cross-file context
    package: str = ""  # where it comes from, so a selection takes from every package

    @property
    def document(self) -> str:
        return self.before + self.after

    @property
    def final(self) -> str:
        return self.before + self.text + self.after

    @property
    def line(self) -> int:
        return self.before.count("\n")


@dataclass(frozen=True)
class Release:
    version: str
    file: str  # the artifact's file name, as pip download / npm pack write it
    sha256: str


@dataclass(frozen=True)
class PackageHistory:
    name: str
    registry: str  # "pypi" or "npm"
    releases: tuple[Release, ...]  # oldest first, consecutive


def language_of(path: str) -> str | None:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())


def load_histories(path: Path = HISTORIES_FILE) -> list[PackageHistory]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [PackageHistory(name=h["name"], registry=h["registry"],
                           releases=tuple(Release(r["version"], r["file"], r["sha256"]) for r in h["releases"]))
            for h in data["histories"]]


def default_cache_dir() -> Path:
    from codefill.model.weights.paths import codefill_home

    return codefill_home() / "replay"


def fetch(package: PackageHistory, release: Release, cache_dir: Path) -> Path:
    """The release's artifact in the cache, downloaded first if missing; checksum-verified."""
    artifact = Artifact(package.registry, package.name, release.version, release.file, release.sha256)
    try:
        return fetch_artifact(artifact, cache_dir)
    except ArtifactError as exc:
        raise HistoryError(str(exc)) from exc


def read_sources(archive: Path) -> dict[str, str]:
    """The source files of known languages in an sdist or npm tarball, by path below its top folder."""
    files: dict[str, str] = {}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 2 or member.size > MAX_FILE_BYTES:
                continue
            path = "/".join(parts[1:])
            if language_of(path) is None or ".." in parts or path.endswith((".min.js", ".d.ts")):
                continue
            raw = tar.extractfile(member)
            try:
                text = raw.read().decode("utf-8") if raw is not None else None
            except UnicodeDecodeError:
                continue
            if text is not None:
                files[path] = text.replace("\r\n", "\n").replace("\r", "\n")
    return files


def sessions_between(old: Mapping[str, str], new: Mapping[str, str], source: str, *,
                     max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = DEFAULT_MIN_CHARS,
                     workspace: str | None = None, package: str = "") -> list[EditSession]:
    """One session per block of added or changed lines in the files both versions have."""
    sessions = []
    for path in sorted(set(old) & set(new)):
        language = language_of(path)
        if language is None or old[path] == new[path]:
            continue
        old_lines = old[path].splitlines(keepends=True)
        new_lines = new[path].splitlines(keepends=True)
        if any(len(line) > MAX_LINE_CHARS * 5 for line in new_lines):
            continue  # a bundle or generated file
        matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
        for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
            if tag in ("replace", "insert"):
                session = _session(new_lines, j1, j2, f"{source} {path}", path, language, max_chars, min_chars,
                                   workspace)
                if session is not None:
                    sessions.append(dataclasses.replace(session, package=package or source))
    return sessions


def _session(lines: Sequence[str], start: int, end: int, source: str, path: str, language: str, max_chars: int,
             min_chars: int, workspace: str | None) -> EditSession | None:
    while start < end and not lines[start].strip():
        start += 1  # blank lines first: typed in no time, nothing to complete
    taken: list[str] = []
    for line in lines[start:end]:
        if len(line) > MAX_LINE_CHARS or (taken and sum(map(len, taken)) + len(line) > max_chars):
            break
        taken.append(line)
    while taken and not taken[-1].strip():
        taken.pop()
    block = "".join(taken)
    if not taken or len(block) > max_chars or len("".join(block.split())) < min_chars:
        return None
    indent = block[:len(block) - len(block.lstrip(" \t"))]
    rest = "".join(lines[start + len(taken):])
    typed = block[len(indent):]
    if typed.endswith("\n"):  # the cursor's line keeps its line break: nothing follows the cursor on it
        typed, rest = typed[:-1], "\n" + rest
    before = "".join(lines[:start]) + indent
    return EditSession(id=f"{source}:{start + 1}", path=path, language=language, before=before, text=typed,
                       after=rest, workspace=workspace)


def package_sessions(package: PackageHistory, cache_dir: Path, *, max_chars: int = DEFAULT_MAX_CHARS,
                     min_chars: int = DEFAULT_MIN_CHARS) -> list[EditSession]:
    sources = [read_sources(fetch(package, r, cache_dir)) for r in package.releases]
    sessions = []
    for (old_r, old), (new_r, new) in zip(zip(package.releases, sources), zip(package.releases[1:], sources[1:])):
        tree = write_tree(new, cache_dir / "trees" / f"{package.registry}-{package.name}-{new_r.version}")
        sessions += sessions_between(old, new, f"{package.name} {old_r.version}->{new_r.version}",
                                     max_chars=max_chars, min_chars=min_chars, workspace=str(tree),
                                     package=package.name)
    return sessions


def select(sessions: Iterable[EditSession], *, limit: int | None, seed: int,
           languages: Sequence[str] | None = None) -> list[EditSession]:
    """`limit` sessions drawn with `seed`, taking languages in turn and, within a language,
    packages in turn: a package with many changes does not crowd out the others."""
    groups: dict[str, dict[str, list[EditSession]]] = {}
    for s in sorted(sessions, key=lambda s: s.id):
        if not languages or s.language in languages:
            groups.setdefault(s.language, {}).setdefault(s.package, []).append(s)
    rng = random.Random(seed)
    queues = []
    for language in sorted(groups):
        packages = [groups[language][p] for p in sorted(groups[language])]
        for group in packages:
            rng.shuffle(group)
        queues.append(_round_robin(packages))
    return _round_robin(queues)[:limit] if limit is not None else _round_robin(queues)


def _round_robin(lists: Sequence[Sequence[EditSession]]) -> list[EditSession]:
    out: list[EditSession] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out += [x[i] for x in lists if i < len(x)]
    return out


def pinned_sessions(cache_dir: Path | None = None, *, packages: Sequence[str] | None = None,
                    max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = DEFAULT_MIN_CHARS,
                    histories: Path = HISTORIES_FILE) -> list[EditSession]:
    cache_dir = cache_dir or default_cache_dir()
    chosen = [h for h in load_histories(histories) if not packages or h.name in packages]
    if packages and len(chosen) < len(set(packages)):
        known = ", ".join(h.name for h in load_histories(histories))
        raise HistoryError(f"unknown package in {', '.join(packages)}; the pinned histories are {known}")
    return [s for h in chosen for s in package_sessions(h, cache_dir, max_chars=max_chars, min_chars=min_chars)]


def sessions_from_json(path: Path) -> list[EditSession]:
    """Sessions written out by hand or by a script: {"sessions": [{path, language, before, text, after}]}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, s in enumerate(data["sessions"]):
        out.append(EditSession(id=s.get("id") or f"{path.name}#{i}", path=s["path"],
                               language=s.get("language") or language_of(s["path"]) or "text",
                               before=s["before"], text=s["text"], after=s["after"], workspace=s.get("workspace"),
                               package=s.get("package") or path.name))
    return out
