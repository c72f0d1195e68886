"""A multi-language fill-in-the-middle benchmark from real code we did not write.

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

The files and what each offers are `codefill.jobs.evaluation.fim_sources`; the scores and `evaluate_fim`,
`codefill.jobs.evaluation.fim_scores`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codefill.jobs.evaluation.fim_sources import (
    DEFAULT_MAX_BLOCK_CHARS,
    DEFAULT_MAX_BLOCK_LINES,
    LANGUAGES,
    FileInfo,
    FimDataError,
    SourceFile,
    analyze,
)

LAYOUTS = ("mid-line", "line-start", "line-end", "santacoder", "block")
LINE_LAYOUTS = ("mid-line", "line-start", "line-end", "santacoder")
DEFAULT_PREFIX_CHARS = 1500
DEFAULT_SUFFIX_CHARS = 500
DEFAULT_LIMIT = 100  # per language


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
