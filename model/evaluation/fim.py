"""A multi-language fill-in-the-middle benchmark from real code we did not write.

Sources
-------
`fim_sources.json` pins registry packages of ordinary library code in Python, JavaScript,
TypeScript, Java, Go, Rust, C and C++ (PyPI sdists, npm tarballs, Debian source-shipping
``-dev`` packages), each by version and sha256. `prepare_sources` downloads them once
(`model.evaluation.artifacts`: ``pip download``, ``npm pack``, ``apt-get download``), checks
them, and keeps the chosen files under ``DATA_DIR/sources`` (default ``$CODEFILL_HOME/fim``);
later runs need no network. `sources_from_dir` reads a local folder instead (the language
from each file's extension), e.g. a repository of your own or a test fixture.

Files that are not ordinary code are left out: tests, examples and docs (by path), files over
512 KiB, files with a line over 1000 characters (minified or generated), and files whose first
lines say they are generated.

Cursor layouts
--------------
For a line ``L`` (its text without the newline) with ``P`` the text before it without the
newline that ends the line before, and ``R`` the text after ``L``'s newline, a file is
``P + "\\n" + L + "\\n" + R`` and every case keeps ``prefix + middle + suffix == file``:

=============  ======================  ===================  ==============
layout          prefix                  middle               suffix
=============  ======================  ===================  ==============
``mid-line``    ``P + "\\n" + L[:c]``    ``L[c:]``            ``"\\n" + R``
``line-start``  ``P + "\\n"``            ``L``                ``"\\n" + R``
``line-end``    ``P``                   ``"\\n" + L``        ``"\\n" + R``
``santacoder``  ``P``                   ``"\\n" + L + "\\n"``  ``R``
``block``       ``P + "\\n"``            ``L .. L'``          ``"\\n" + R'``
=============  ======================  ===================  ==============

* ``mid-line``: the user stopped typing inside a line: ``c`` is after at least one
  non-blank character of ``L`` (past its indentation) and leaves at least two characters
  to complete; the rest of the line is the middle, and the line break is after the cursor.
* ``line-start``: the cursor on an empty line, at column 0 (the model writes the
  indentation too); the line break after it is in the suffix (HumanEval single-line
  infilling's layout).
* ``line-end``: what an editor has when the cursor sits at the end of a line and the next
  line is to be written: the prefix ends with the previous line's text, the completion
  begins a new line (``"\\n" + L``), and the cursor line's own line break, with everything
  after it, is the suffix.
* ``santacoder``: the layout of the santacoder-fim set (bigcode/santacoder-fim-task), which
  the Qwen2.5-Coder and DeepSeek-Coder papers report as "HumanEval-FIM": the prefix without
  its final newline and the suffix without its leading one, so the suffix starts with the
  next line's text and the middle is ``"\\n" + L`` plus ``L``'s own newline (it has to be there
  for the file to read back).
* ``block``: a whole statement, or the body of a block, of several lines (``L .. L'``,
  joined by newlines, without the last one's newline), chosen with tree-sitter: the inner
  lines of a ``{ ... }`` block whose braces stand at a line's end and start, a Python
  ``block``, or a statement in one of those that spans lines and starts and ends its lines.
  2 to `max_block_lines` lines, at most `max_block_chars` characters. The cursor is at
  column 0 of its first line, as ``line-start``.

The middle's lines are non-blank, at most 200 characters, and not wholly inside a comment
or a string (documentation is prose, not code); a line layout needs a line before and after.

Windows
-------
Only the code near the cursor goes into a case: the prefix keeps its last whole lines within
`prefix_chars` characters, the suffix its first whole lines within `suffix_chars` (never less
than the cursor's line and, in the suffix, the first line after it).

Sampling
--------
``limit`` cases per language, spread evenly over the layouts asked for (the first layouts
get the remainder). Each (language, layout) draws with its own ``random.Random`` seeded by
the seed, the language and the layout: packages in turn, a file of that package uniformly,
then a line (or span, or cut point) of that file uniformly. The same data, arguments and
seed give the same cases in the same order; asking for fewer layouts or a smaller limit
gives the first cases of the same draws.

Scores (`score`)
----------------
* ``exact_match``: line layouts: ``completion.strip() == middle.strip()`` (santacoder-fim's
  own comparison, ``result.strip() == canonical_solution.strip()``, so the santacoder
  middle's newlines do not count); ``block``: the same non-blank lines, each stripped
  (`infill.exact_match`, as HumanEval multi-line infilling).
* ``first_line_match`` (line layouts only): the rule of Qwen2.5-Coder's HumanEval-FIM
  evaluation on the text as returned: its first line, or its second when it starts with
  ``"\\n"`` or ``" \\n"``, stripped, equals the stripped middle. Run on a server with
  post-processing off (or on raw vLLM) this is the published reference figure.
* ``edit_similarity``: ``1 - Levenshtein(c, m) / max(len(c), len(m))`` of the stripped
  completion and middle (1.0 when both are empty); rapidfuzz computes it when installed,
  an exact pure-Python distance otherwise: the same numbers either way.
* ``chars`` (completion length) and ``empty`` (nothing but whitespace).

A library: nothing here prints; `evaluate_fim` reports through a progress callback.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from model.evaluation.artifacts import Artifact, ArtifactError, archive_texts, fetch_artifact, matches, write_tree
from model.evaluation.case_runner import Fill, fill_or_error, run_cases, system_order
from model.evaluation.infill import exact_match as lines_exact_match

SOURCES_FILE = Path(__file__).with_name("fim_sources.json")
LANGUAGES = ("python", "javascript", "typescript", "java", "go", "rust", "c", "cpp")
LAYOUTS = ("mid-line", "line-start", "line-end", "santacoder", "block")
LINE_LAYOUTS = ("mid-line", "line-start", "line-end", "santacoder")
EXTENSIONS = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescript",
    ".java": "java", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
}
# tree-sitter grammar of each language (model.grammars); .tsx files use "tsx"
GRAMMARS = {"python": "python", "javascript": "javascript", "typescript": "typescript", "java": "java",
            "go": "go", "rust": "rust", "c": "c", "cpp": "cpp"}
# node types whose body (or statements) a block case takes
BLOCK_TYPES = {
    "python": ("block",), "javascript": ("statement_block",), "typescript": ("statement_block",),
    "java": ("block", "constructor_body"), "go": ("block",), "rust": ("block",),
    "c": ("compound_statement",), "cpp": ("compound_statement",),
}
# tests, examples, docs, bundles: not the code an editor completes (matched against "/" + path)
DEFAULT_EXCLUDE = (
    "*/test/*", "*/tests/*", "*/testdata/*", "*/__tests__/*", "*/spec/*", "*/examples/*", "*/example/*",
    "*/docs/*", "*/doc/*", "*/benchmark/*", "*/benchmarks/*", "*/node_modules/*", "*/vendor/*",
    "*/test_*.py", "*_test.py", "*_test.go", "*.test.*", "*.spec.*", "*.min.js", "*.d.ts",
)
MAX_FILE_BYTES = 512 * 1024
MAX_FILE_LINE_CHARS = 1000  # a longer line: minified or generated
MAX_LINE_CHARS = 200  # the longest line a middle may have
DEFAULT_PREFIX_CHARS = 1500
DEFAULT_SUFFIX_CHARS = 500
DEFAULT_LIMIT = 100  # per language
DEFAULT_MAX_BLOCK_LINES = 8
DEFAULT_MAX_BLOCK_CHARS = 500
_GENERATED_MARKS = ("@generated", "do not edit", "code generated", "automatically generated", "autogenerated",
                    "auto-generated", "generated by")


class FimDataError(RuntimeError):
    """The benchmark's sources cannot be had (download, checksum, or an include that matches nothing)."""


# --- sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    language: str
    package: str  # where it comes from ("requests", or the folder's name)
    path: str  # inside the package's tree
    text: str


@dataclass(frozen=True)
class PinnedSource:
    """One entry of fim_sources.json: an artifact, the language and the files taken from it."""

    language: str
    artifact: Artifact
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    inner: str | None = None

    @property
    def package(self) -> str:
        return self.artifact.name

    @property
    def tree_name(self) -> str:
        """The folder of its files: changes whenever the pin or its file selection does."""
        key = json.dumps([self.artifact.sha256, self.include, self.exclude, self.inner])
        return f"{self.artifact.name}-{self.artifact.version}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"

    def to_dict(self) -> dict[str, Any]:
        a = self.artifact
        return {"language": self.language, "registry": a.registry, "name": a.name, "version": a.version,
                "file": a.file, "sha256": a.sha256}


def load_pins(path: Path = SOURCES_FILE) -> list[PinnedSource]:
    data = json.loads(path.read_text(encoding="utf-8"))
    pins = []
    for p in data["packages"]:
        if p["language"] not in LANGUAGES:
            raise FimDataError(f"{path}: {p['name']}: unknown language {p['language']!r}")
        pins.append(PinnedSource(
            language=p["language"],
            artifact=Artifact(p["registry"], p["name"], p["version"], p["file"], p["sha256"]),
            include=tuple(p["include"]), exclude=tuple(p.get("exclude", ())), inner=p.get("inner"),
        ))
    return pins


def default_data_dir() -> Path:
    from model.paths import codefill_home

    return codefill_home() / "fim"


def _excluded(path: str, extra: Sequence[str] = ()) -> bool:
    return matches("/" + path, DEFAULT_EXCLUDE) or matches(path, extra)


def prepare_sources(pins: Sequence[PinnedSource], data_dir: Path,
                    progress: Callable[[PinnedSource, int], None] | None = None) -> list[SourceFile]:
    """Every pinned package's files: downloaded and checked on first use, then read from
    ``data_dir/sources``; `progress(pin, files)` after each package."""
    out: list[SourceFile] = []
    for pin in pins:
        tree = data_dir / "sources" / pin.language / pin.tree_name
        if not tree.is_dir():
            try:
                archive = fetch_artifact(pin.artifact, data_dir / "downloads")
                files = archive_texts(archive, pin.include, pin.exclude, inner=pin.inner, max_bytes=MAX_FILE_BYTES)
            except (ArtifactError, OSError, ValueError) as exc:
                raise FimDataError(f"{pin.artifact.label}: {exc}") from exc
            files = {p: t for p, t in files.items() if not _excluded(p)}
            if not files:
                raise FimDataError(f"{pin.artifact.label}: no file matches {', '.join(pin.include)}")
            write_tree(files, tree)
        got = [SourceFile(pin.language, pin.package, p.relative_to(tree).as_posix(), p.read_text(encoding="utf-8"))
               for p in sorted(tree.rglob("*")) if p.is_file()]
        out += got
        if progress is not None:
            progress(pin, len(got))
    return out


_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", "build", "dist", "target"}


def language_of(path: str) -> str | None:
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower())


def sources_from_dir(root: Path, package: str | None = None) -> list[SourceFile]:
    """The files of known languages under `root` (language from the extension), all one package."""
    root = Path(root)
    if not root.is_dir():
        raise FimDataError(f"{root} is not a folder")
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or any(part in _SKIP_DIRS or part.startswith(".") for part in rel.split("/")[:-1]):
            continue
        language = language_of(rel)
        if language is None or p.stat().st_size > MAX_FILE_BYTES or _excluded(rel):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        out.append(SourceFile(language, package or root.name, rel, text.replace("\r\n", "\n").replace("\r", "\n")))
    return out


def unusable(text: str) -> str | None:
    """Why a file is not ordinary code (None when it is)."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return "too big"
    if "\0" in text:
        return "binary"
    lines = text.split("\n")
    if any(len(line) > MAX_FILE_LINE_CHARS for line in lines):
        return "a line over 1000 characters (minified or generated)"
    head = "\n".join(lines[:15]).lower()
    if any(mark in head for mark in _GENERATED_MARKS):
        return "generated"
    return None


# --- what a file offers: eligible lines and blocks -----------------------------------


@dataclass(frozen=True)
class FileInfo:
    lines: tuple[str, ...]
    lines_ok: tuple[int, ...]  # line-level middles (0-based line numbers)
    midline_ok: tuple[int, ...]  # lines long enough to cut inside
    blocks: tuple[tuple[int, int], ...]  # block middles: (first, last) lines, inclusive


def grammar_for(language: str, path: str) -> str:
    """The tree-sitter grammar of a file (model.grammars): the language's, "tsx" for .tsx files."""
    if language == "typescript" and path.endswith(".tsx"):
        return "tsx"
    return GRAMMARS.get(language, language)


def _grammar_of(file: SourceFile) -> str:
    return grammar_for(file.language, file.path)


def _blank(b: bytes) -> bool:
    return not b.strip()


def _syntax(file: SourceFile) -> tuple[set[int], set[tuple[int, int]]]:
    """(prose lines: wholly inside comments or strings, candidate block spans) from tree-sitter."""
    from model.grammars import parser_for

    parser = parser_for(_grammar_of(file))
    if parser is None:
        return set(), set()
    data = file.text.encode("utf-8")
    lines_b = data.split(b"\n")
    tree = parser.parse(data)
    prose: set[int] = set()
    spans: set[tuple[int, int]] = set()
    block_types = BLOCK_TYPES[file.language]
    braced = file.language != "python"

    def whole_lines(sr: int, sc: int, er: int, ec: int) -> bool:
        return _blank(lines_b[sr][:sc]) and _blank(lines_b[er][ec:])

    cursor = tree.walk()
    while True:
        node = cursor.node
        kind = node.type
        descend = True
        if "comment" in kind or "string" in kind:
            descend = False
            (sr, sc), (er, ec) = node.start_point, node.end_point
            for row in range(sr, er + 1):
                line = lines_b[row]
                start = sc if row == sr else 0
                end = ec if row == er else len(line)
                if _blank(line[:start]) and _blank(line[end:]):
                    prose.add(row)
        elif kind in block_types:
            (sr, sc), (er, ec) = node.start_point, node.end_point
            if braced:
                if (lines_b[sr][sc:sc + 1] == b"{" and _blank(lines_b[sr][sc + 1:])
                        and _blank(lines_b[er][:max(ec - 1, 0)])):
                    spans.add((sr + 1, er - 1))
            elif whole_lines(sr, sc, er, ec):
                spans.add((sr, er))
            children = node.named_children
            if len(children) == 1 and children[0].type == "statement_list":  # Go wraps a block's statements
                children = children[0].named_children
            for child in children:
                (csr, csc), (cer, cec) = child.start_point, child.end_point
                if cer > csr and "comment" not in child.type and whole_lines(csr, csc, cer, cec):
                    spans.add((csr, cer))
        if descend and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return prose, spans


def analyze(file: SourceFile, *, max_block_lines: int = DEFAULT_MAX_BLOCK_LINES,
            max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS) -> FileInfo:
    lines = file.text.split("\n")
    if unusable(file.text) is not None:
        return FileInfo(tuple(lines), (), (), ())
    prose, spans = _syntax(file)
    last = len(lines) - 2  # a line layout needs a newline after the line (and R may be empty)

    def line_ok(i: int) -> bool:
        return bool(lines[i].strip()) and len(lines[i]) <= MAX_LINE_CHARS and i not in prose

    lines_ok = tuple(i for i in range(1, last + 1) if line_ok(i))
    midline_ok = tuple(i for i in lines_ok if len(lines[i].strip()) >= 4)
    blocks = []
    for a, b in sorted(spans):
        while a <= b and not lines[a].strip():
            a += 1
        while b >= a and not lines[b].strip():
            b -= 1
        n = b - a + 1
        if a < 1 or b > last or n < 2 or n > max_block_lines or a in prose:
            continue
        body = lines[a:b + 1]
        if len("\n".join(body)) > max_block_chars or any(len(x) > MAX_LINE_CHARS for x in body):
            continue
        blocks.append((a, b))
    return FileInfo(tuple(lines), lines_ok, midline_ok, tuple(sorted(set(blocks))))


# --- cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FimCase:
    id: str
    language: str
    layout: str
    package: str
    path: str
    line: int  # 1-based line of the middle's (first) line in the file
    prefix: str
    middle: str
    suffix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FimCase:
        return cls(**{k: d[k] for k in ("id", "language", "layout", "package", "path", "line", "prefix",
                                        "middle", "suffix")})


def split_at(lines: Sequence[str], layout: str, i: int, *, cut: int | None = None,
             last: int | None = None) -> tuple[str, str, str]:
    """(prefix, middle, suffix) of the whole file for line `i` (0-based; ``block``: lines
    i..last; ``mid-line``: cut at column `cut`), as the module docstring lays them out."""
    if i < 1 or i >= len(lines) - 1:
        raise ValueError(f"line {i} has no line before or no newline after it")
    before = "\n".join(lines[:i]) + "\n"  # P + "\n"
    line = lines[i]
    if layout == "block":
        if last is None or last < i or last >= len(lines) - 1:
            raise ValueError("a block needs last >= i, before the file's last line")
        return before, "\n".join(lines[i:last + 1]), "\n" + "\n".join(lines[last + 1:])
    rest = "\n".join(lines[i + 1:])  # R
    if layout == "mid-line":
        if cut is None or not 0 < cut < len(line):
            raise ValueError("mid-line needs a cut inside the line")
        return before + line[:cut], line[cut:], "\n" + rest
    if layout == "line-start":
        return before, line, "\n" + rest
    if layout == "line-end":
        return before[:-1], "\n" + line, "\n" + rest
    if layout == "santacoder":
        return before[:-1], "\n" + line + "\n", rest
    raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")


def clip_prefix(text: str, n: int) -> str:
    """The last whole lines of `text` within `n` characters (at least the last, partial, line)."""
    if len(text) <= n:
        return text
    last_start = text.rfind("\n") + 1
    j = text.find("\n", len(text) - n - 1)
    return text[last_start:] if j == -1 or j + 1 > last_start else text[j + 1:]


def clip_suffix(text: str, n: int) -> str:
    """The first whole lines of `text` within `n` characters, without the newline that ends the
    last kept line (at least the rest of the cursor's line and the line after it)."""
    if len(text) <= n:
        return text
    j = text.rfind("\n", 0, n + 1)
    if j <= 0:
        j = text.find("\n", 1)
        j = len(text) if j == -1 else j
    return text[:j]


def _mid_cut(line: str, rng: random.Random) -> int:
    indent = len(line) - len(line.lstrip())
    end = len(line.rstrip())
    return rng.randint(indent + 1, end - 2)


def _case_id(file: SourceFile, layout: str, i: int, cut: int | None, last: int | None) -> str:
    where = f"{i + 1}" + (f":{cut}" if cut is not None else "") + (f"-{last + 1}" if last is not None else "")
    return f"{file.language}/{file.package}/{file.path}:{where}/{layout}"


def build_case(file: SourceFile, layout: str, i: int, *, cut: int | None = None, last: int | None = None,
               prefix_chars: int = DEFAULT_PREFIX_CHARS, suffix_chars: int = DEFAULT_SUFFIX_CHARS) -> FimCase:
    prefix, middle, suffix = split_at(file.text.split("\n"), layout, i, cut=cut, last=last)
    return FimCase(id=_case_id(file, layout, i, cut, last), language=file.language, layout=layout,
                   package=file.package, path=file.path, line=i + 1, prefix=clip_prefix(prefix, prefix_chars),
                   middle=middle, suffix=clip_suffix(suffix, suffix_chars))


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal counts, the remainder to the first."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def sample_cases(files: Iterable[SourceFile], *, limit: int = DEFAULT_LIMIT, seed: int = 0,
                 languages: Sequence[str] | None = None, layouts: Sequence[str] = LAYOUTS,
                 prefix_chars: int = DEFAULT_PREFIX_CHARS, suffix_chars: int = DEFAULT_SUFFIX_CHARS,
                 max_block_lines: int = DEFAULT_MAX_BLOCK_LINES,
                 max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS) -> list[FimCase]:
    """`limit` cases per language, spread over `layouts` (see the module docstring)."""
    unknown = [x for x in layouts if x not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown layout {unknown[0]!r}; known: {', '.join(LAYOUTS)}")
    if limit <= 0 or not layouts:
        return []
    groups: dict[str, dict[str, list[SourceFile]]] = {}
    for f in sorted(files, key=lambda f: (f.language, f.package, f.path)):
        if languages is None or f.language in languages:
            groups.setdefault(f.language, {}).setdefault(f.package, []).append(f)
    infos: dict[tuple[str, str, str], FileInfo] = {}

    def info(f: SourceFile) -> FileInfo:
        key = (f.language, f.package, f.path)
        if key not in infos:
            infos[key] = analyze(f, max_block_lines=max_block_lines, max_block_chars=max_block_chars)
        return infos[key]

    cases: list[FimCase] = []
    for language in [x for x in LANGUAGES if x in groups]:
        packages = sorted(groups[language])
        for layout, quota in zip(layouts, spread(limit, len(layouts))):
            rng = random.Random(f"codefill-fim/{seed}/{language}/{layout}")
            chosen: list[FimCase] = []
            seen: set[str] = set()
            empty: dict[str, set[str]] = {p: set() for p in packages}
            k = attempts = 0
            while len(chosen) < quota and attempts < 50 * quota + 200:
                live = [p for p in packages if len(empty[p]) < len(groups[language][p])]
                if not live:
                    break
                package = packages[k % len(packages)]
                k += 1
                if package not in live:
                    continue
                attempts += 1
                pfiles = groups[language][package]
                f = pfiles[rng.randrange(len(pfiles))]
                fi = info(f)
                pool: Sequence[Any] = (fi.blocks if layout == "block" else
                                       fi.midline_ok if layout == "mid-line" else fi.lines_ok)
                if not pool:
                    empty[package].add(f.path)
                    continue
                pick = pool[rng.randrange(len(pool))]
                if layout == "block":
                    i, last, cut = pick[0], pick[1], None
                else:
                    i, last = pick, None
                    cut = _mid_cut(fi.lines[i], rng) if layout == "mid-line" else None
                case_id = _case_id(f, layout, i, cut, last)
                if case_id in seen:
                    continue
                seen.add(case_id)
                chosen.append(build_case(f, layout, i, cut=cut, last=last, prefix_chars=prefix_chars,
                                         suffix_chars=suffix_chars))
            cases += chosen
    return cases


def write_cases(cases: Iterable[FimCase], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_cases(path: Path) -> list[FimCase]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(FimCase.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise FimDataError(f"{path}:{n}: not a case ({exc})") from exc
    return out


# --- scores --------------------------------------------------------------------------


def _levenshtein_py(a: str, b: str) -> int:
    if a == b:
        return 0
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start:len(a) - end], b[start:len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@cache
def _levenshtein_impl() -> Callable[[str, str], int]:
    try:
        from rapidfuzz.distance import Levenshtein  # type: ignore[import-not-found]
    except ImportError:
        return _levenshtein_py
    return Levenshtein.distance


def levenshtein(a: str, b: str) -> int:
    return _levenshtein_impl()(a, b)


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length; 1.0 for two empty strings."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def qwen_first_line(text: str) -> str:
    """The line Qwen2.5-Coder's HumanEval-FIM evaluation compares: the first, or the second when
    the text starts with "\\n" or " \\n"; stripped."""
    parts = text.split("\n")
    return (parts[1] if text.startswith(("\n", " \n")) else parts[0]).strip()


def score(case: FimCase, text: str) -> dict[str, Any]:
    """The scores of one completion (see the module docstring)."""
    if case.layout == "block":
        em = lines_exact_match(text, case.middle)
        first = None
    else:
        em = text.strip() == case.middle.strip()
        first = qwen_first_line(text) == case.middle.strip()
    return {"exact_match": em, "first_line_match": first,
            "edit_similarity": round(edit_similarity(text.strip(), case.middle.strip()), 4),
            "chars": len(text), "empty": not text.strip()}


# --- evaluation ----------------------------------------------------------------------

Filler = Callable[[FimCase], Awaitable[Fill]]


@dataclass
class FimOutcome:
    fill: Fill
    scores: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self.fill)
        d["completion"] = d.pop("text")
        d.update(self.scores)
        return d


@dataclass
class FimRecord:
    index: int
    case: FimCase
    outcomes: dict[str, FimOutcome]  # by variant, in the order the requests were sent


@dataclass
class FimProgress:
    done: int
    total: int
    exact: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def exact_match_rate(self, name: str) -> float:
        return self.exact.get(name, 0) / self.done if self.done else 0.0


async def evaluate_fim(cases: Sequence[FimCase], fillers: Mapping[str, Filler], *, concurrency: int = 1,
                       alternate_order: bool = True,
                       progress: Callable[[FimProgress, FimRecord], None] | None = None) -> list[FimRecord]:
    """Fill every case with every variant and score it; records in case order.

    `concurrency` workers take cases in order; a worker sends its case to each variant back
    to back (their order reversed on every other case when `alternate_order`, so no variant
    always comes first, e.g. into a cold prefix cache). A request that raises counts as an
    error (scored as an empty completion)."""
    names = list(fillers)
    if not names:
        raise ValueError("no variants to evaluate")
    prog = FimProgress(done=0, total=len(cases), exact=dict.fromkeys(names, 0), errors=dict.fromkeys(names, 0))
    records: list[FimRecord | None] = [None] * len(cases)
    start = time.monotonic()

    async def one_case(i: int) -> None:
        case = cases[i]
        outcomes = {}
        for name in system_order(names, i, alternate_order):
            fill = await fill_or_error(fillers[name], case)
            outcomes[name] = FimOutcome(fill, score(case, fill.text))
        record = FimRecord(i, case, outcomes)
        records[i] = record
        prog.done += 1
        for name, o in outcomes.items():
            prog.exact[name] += bool(o.scores["exact_match"])
            prog.errors[name] += o.fill.error is not None
        prog.elapsed_s = time.monotonic() - start
        if progress is not None:
            progress(prog, record)

    await run_cases(len(cases), one_case, concurrency)
    return [r for r in records if r is not None]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _metrics(outcomes: Sequence[FimOutcome]) -> dict[str, Any]:
    n = len(outcomes)
    first = [o.scores["first_line_match"] for o in outcomes if o.scores["first_line_match"] is not None]
    tokens = [o.fill.completion_tokens for o in outcomes if o.fill.completion_tokens is not None]
    latency = sorted(o.fill.latency_s for o in outcomes if o.fill.latency_s is not None)
    return {
        "cases": n,
        "line_cases": len(first),  # the cases first_line_match counts (line layouts)
        "exact_match": _mean([float(o.scores["exact_match"]) for o in outcomes]),
        "first_line_match": _mean([float(x) for x in first]),
        # exact match over those same line cases: what the first-line rule is held against
        "line_exact_match": _mean([float(o.scores["exact_match"]) for o in outcomes
                                   if o.scores["first_line_match"] is not None]),
        "edit_similarity": _mean([o.scores["edit_similarity"] for o in outcomes]),
        "mean_chars": _mean([float(o.scores["chars"]) for o in outcomes]),
        "empty_rate": _mean([float(o.scores["empty"]) for o in outcomes]),
        "mean_completion_tokens": _mean([float(t) for t in tokens]),
        "latency_p50_s": statistics.median(latency) if latency else None,
        "errors": sum(o.fill.error is not None for o in outcomes),
    }


def summarize(records: Sequence[FimRecord], variants: Sequence[str] | None = None) -> dict[str, Any]:
    """``{variant: {language: {layout: metrics}}}``, with "all" for every language and layout."""
    if variants is None:
        variants = list(records[0].outcomes) if records else []
    out: dict[str, Any] = {}
    for name in variants:
        groups: dict[tuple[str, str], list[FimOutcome]] = {}
        for r in records:
            o = r.outcomes.get(name)
            if o is None:
                continue
            for key in ((r.case.language, r.case.layout), (r.case.language, "all"), ("all", r.case.layout),
                        ("all", "all")):
                groups.setdefault(key, []).append(o)
        table: dict[str, dict[str, Any]] = {}
        for (language, layout), outs in groups.items():
            table.setdefault(language, {})[layout] = _metrics(outs)
        out[name] = table
    return out
