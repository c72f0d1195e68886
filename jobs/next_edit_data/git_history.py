"""The changed source files of a repository's commits, read with git (a bare clone works too).

Each commit that is not a merge is compared with its first parent; a file counts when both
sides exist (a modification, not an add, delete or rename), its language is code
(`codefill.model.languages`) and both sides are UTF-8 text under a size cap.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from codefill.model.languages import language_of_extension

MAX_FILE_BYTES = 200_000
NOT_CODE = frozenset({"markdown", "rst", "json", "yaml", "toml", "xml", "html", "css", "scss"})


class GitError(ValueError):
    """git is missing, or the folder is not a repository."""


@dataclass(frozen=True)
class FileChange:
    commit: str
    path: str
    language: str
    before: str
    after: str


def _git(repo: Path, *args: str, check: bool = True) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed; next-edit examples are read from a repository's history") from exc
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} in {repo} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def commits(repo: str | Path, max_commits: int | None = None) -> list[str]:
    """The repository's non-merge commits reachable from HEAD, newest first."""
    repo = Path(repo).expanduser()
    if not repo.exists():
        raise GitError(f"{repo} does not exist")
    if _git(repo, "rev-parse", "--git-dir", check=False) == b"":
        raise GitError(f"{repo} is not a git repository (next-edit examples come from its commits)")
    limit = [f"--max-count={max_commits}"] if max_commits else []
    out = _git(repo, "rev-list", "--no-merges", *limit, "HEAD")
    return out.decode().split()


def changed_files(repo: str | Path, commit: str) -> Iterator[FileChange]:
    """The modified code files of `commit` against its first parent, in path order."""
    repo = Path(repo).expanduser()
    listing = _git(repo, "diff-tree", "-r", "-z", "--no-commit-id", "--diff-filter=M", "--no-renames",
                   f"{commit}^", commit, check=False)
    fields = listing.decode(errors="replace").split("\0")
    # -z output: ":mode mode sha sha status" then the path, alternating.
    for meta, path in zip(fields[0::2], fields[1::2]):
        if not meta.startswith(":"):
            continue
        language = language_of_extension(path)
        if language is None or language in NOT_CODE:
            continue
        _, _, old_sha, new_sha, _ = meta[1:].split(" ", 4)
        before, after = _blob(repo, old_sha), _blob(repo, new_sha)
        if before is None or after is None:
            continue
        yield FileChange(commit=commit, path=path, language=language, before=before, after=after)


def _blob(repo: Path, sha: str) -> str | None:
    data = _git(repo, "cat-file", "blob", sha, check=False)
    if len(data) > MAX_FILE_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


__all__ = ["FileChange", "GitError", "changed_files", "commits"]
