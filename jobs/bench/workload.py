"""Completion-shaped requests cut from real code.

An editor asks for a completion with the file around the cursor: a long prefix,
a shorter suffix, and either the rest of the current line (single-line) or a
block body (multi-line). The requests here are cut the same way from the
Python standard library's own source (present wherever Python is, so the
workload needs no download and is the same for every server in a run):

* single-line: the cursor sits inside a code line, after its first characters;
  the middle is the rest of that line, the suffix starts at the next line;
* multi-line: the cursor sits at the start of a function body (3-20 lines,
  found with `ast`); the middle is the body;
* typing: a line typed through, as the typing replay (codefill.jobs.bench.replay)
  asks: one single-line request at each pause in the line (after a space, `(`,
  `.` or `:`), in order, each prefix the one before plus what was typed since;
  so a server that reuses its cache for the shared prefix shows it. (Not in the
  default mix.)

Around the cursor, whole lines are taken until the prompt reaches its target
size in tokens: about 3/4 prefix, 1/4 suffix (a file too short on one side
gives the rest to the other). Tokens are counted with the model's tokenizer
when one is given (`tokenizers` JSON), otherwise estimated from characters
(CHARS_PER_TOKEN, measured on the stdlib with Qwen2.5-Coder's tokenizer); the
servers' `usage.prompt_tokens` are reported either way.

Everything is drawn from one seeded `random.Random`, so a seed names a workload.
"""

from __future__ import annotations

import ast
import random
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

from codefill.jobs.bench.replay.typist import THINK_AFTER  # where the replay's typist pauses

Kind = Literal["single-line", "multi-line", "typing"]
KINDS: tuple[Kind, ...] = ("single-line", "multi-line", "typing")
DEFAULT_KINDS: tuple[Kind, ...] = ("single-line", "multi-line")
DEFAULT_PROMPT_TOKENS = (512, 2048, 8192)
# New tokens asked for: short for the rest of a line, longer for a block.
MAX_TOKENS_CHOICES: dict[Kind, tuple[int, ...]] = {"single-line": (16, 32), "multi-line": (64, 128),
                                                   "typing": (16, 32)}
TYPING_PAUSES = 8  # most requests one typed line gives
PREFIX_SHARE = 0.75
CHARS_PER_TOKEN = 4.0  # stdlib Python with the Qwen2.5-Coder tokenizer: 3.6-5.1 chars per token

# Large, stable modules of the standard library: plenty of code on both sides of any cursor.
SOURCE_MODULES = (
    "argparse.py", "ast.py", "configparser.py", "dataclasses.py", "difflib.py", "enum.py",
    "inspect.py", "subprocess.py", "tarfile.py", "typing.py", "pickle.py", "smtplib.py",
    "ftplib.py", "imaplib.py", "shutil.py", "threading.py", "logging/__init__.py",
    "asyncio/base_events.py", "http/client.py", "email/message.py", "unittest/case.py",
    "unittest/mock.py", "importlib/_bootstrap_external.py", "json/encoder.py", "statistics.py",
    "collections/__init__.py", "functools.py", "fractions.py", "decimal.py", "textwrap.py",
    "calendar.py", "pprint.py", "optparse.py", "gettext.py", "mailbox.py", "pydoc.py",
)


class WorkloadError(ValueError):
    """The workload cannot be built as asked (no source files, prompt size impossible)."""


@dataclass(frozen=True)
class BenchRequest:
    """One completion request, identical for every server in a run."""

    request_id: str
    kind: Kind
    target_tokens: int  # the prompt size class it was cut for
    source: str  # file it was cut from, relative to the stdlib
    cursor_line: int  # 1-based
    prefix: str
    suffix: str
    expected: str  # what the file really has at the cursor
    max_tokens: int

    @property
    def multiline(self) -> bool:
        return self.kind == "multi-line"


@dataclass(frozen=True)
class SourceFile:
    name: str
    lines: list[str]  # with their line ends
    functions: list[tuple[int, int]]  # (first body line, last body line), 0-based, bodies of 3-20 lines


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def load_sources(names: Sequence[str] = SOURCE_MODULES, root: Path | None = None) -> list[SourceFile]:
    root = root or stdlib_dir()
    files = []
    for name in names:
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue  # an older/newer Python without this module: the others suffice
        functions = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                        and len(node.body) > 1:
                    first = node.body[1]  # after the docstring: the code is what gets completed
                start, end = first.lineno - 1, (node.end_lineno or first.lineno) - 1
                if 3 <= end - start + 1 <= 20:
                    functions.append((start, end))
        functions.sort()
        files.append(SourceFile(name=name, lines=text.splitlines(keepends=True), functions=functions))
    if not files:
        raise WorkloadError(f"no readable source modules under {root}")
    return files


TokenCounter = Callable[[str], int]


def char_estimate(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def tokenizer_counter(path: str | Path) -> TokenCounter:
    """Token counter of a `tokenizer.json` (or a folder holding one)."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise WorkloadError(f"no tokenizer.json at {path}")
    tok = Tokenizer.from_file(str(p))
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def default_counter() -> tuple[TokenCounter, str]:
    """The embedded model's tokenizer when it is already in the cache, else the estimate."""
    try:
        from codefill.model.weights.embedded import cached_embedded_tokenizer_dir

        found = cached_embedded_tokenizer_dir()
        if found is not None:
            return tokenizer_counter(found), f"tokenizer {found}"
    except Exception:  # noqa: BLE001 - the estimate is a fine fallback
        pass
    return char_estimate, f"estimate ({CHARS_PER_TOKEN} chars/token)"


def _window(lines: list[str], before: int, after: int, budget: int, count: TokenCounter) -> tuple[int, int]:
    """Lines [lo, before) for the prefix and [after, hi) for the suffix, about `budget` tokens in all."""
    want_prefix = int(budget * PREFIX_SHARE)
    lo, used = before, 0
    while lo > 0 and used < want_prefix:
        lo -= 1
        used += count(lines[lo])
    hi, used_suffix = after, 0
    while hi < len(lines) and used + used_suffix < budget:
        used_suffix += count(lines[hi])
        hi += 1
    while lo > 0 and used + used_suffix < budget:  # suffix ran out: more prefix
        lo -= 1
        used += count(lines[lo])
    return lo, hi


def _code_line(src: SourceFile, rng: random.Random, cut_after: str, least: int) -> tuple[int, list[int]] | None:
    """(line index, the cursor columns after one of `cut_after` on it, at least `least`) or None."""
    for _ in range(50):
        i = rng.randrange(len(src.lines))
        line = src.lines[i].rstrip("\r\n")
        code = line.strip()
        if len(code) < 12 or code.startswith(("#", '"', "'")) or not line.startswith(" "):
            continue
        indent = len(line) - len(line.lstrip())
        cuts = [j for j in range(indent + 2, len(line) - 3) if line[j - 1] in cut_after and line[j] != " "]
        if len(cuts) >= least:
            return i, cuts
    return None


def _single_line(src: SourceFile, rng: random.Random) -> tuple[int, str, str, str] | None:
    """(line index, text before the cursor on it, middle, rest of the line ending) or None."""
    # Cut after a word: where a user pauses and the editor asks.
    got = _code_line(src, rng, " (.,=[", 1)
    if got is None:
        return None
    i, cuts = got
    line = src.lines[i].rstrip("\r\n")
    j = rng.choice(cuts)
    return i, line[:j], line[j:], src.lines[i][len(line):]


def _fits(src: SourceFile, target_tokens: int) -> bool:
    return len(src.lines) * 9 >= target_tokens  # stdlib code runs about 9+ tokens a line


def build_workload(
    n: int,
    *,
    prompt_tokens: Sequence[int] = DEFAULT_PROMPT_TOKENS,
    kinds: Sequence[Kind] = DEFAULT_KINDS,
    seed: int = 0,
    count: TokenCounter = char_estimate,
    sources: list[SourceFile] | None = None,
    id_prefix: str = "r",
) -> list[BenchRequest]:
    """`n` requests, prompt sizes and kinds drawn uniformly from the given lists."""
    if n < 0:
        raise WorkloadError("the number of requests must not be negative")
    if not prompt_tokens or any(t < 32 for t in prompt_tokens):
        raise WorkloadError("prompt sizes are at least 32 tokens")
    for k in kinds:
        if k not in KINDS:
            raise WorkloadError(f"unknown request kind {k!r} (known: {', '.join(KINDS)})")
    sources = sources if sources is not None else load_sources()
    rng = random.Random(seed)
    out: list[BenchRequest] = []
    while len(out) < n:
        target = rng.choice(list(prompt_tokens))
        kind = rng.choice(list(kinds))
        max_tokens = rng.choice(MAX_TOKENS_CHOICES[kind])
        candidates = [s for s in sources if _fits(s, target) and (kind == "single-line" or s.functions)]
        if not candidates:
            raise WorkloadError(f"no source file is long enough for {target}-token {kind} prompts")
        src = rng.choice(candidates)
        if kind == "typing":
            out.extend(_typed_line(src, rng, target, max_tokens, count, id_prefix, len(out), n - len(out)))
            continue
        if kind == "single-line":
            got = _single_line(src, rng)
            if got is None:
                continue
            i, before_cursor, middle, line_end = got
            cursor_line = i
            budget = target - count(before_cursor)
            lo, hi = _window(src.lines, i, i + 1, budget, count)
            prefix = "".join(src.lines[lo:i]) + before_cursor
            suffix = line_end + "".join(src.lines[i + 1:hi])
        else:
            start, end = rng.choice(src.functions)
            body = src.lines[start:end + 1]
            indent = body[0][: len(body[0]) - len(body[0].lstrip())]
            cursor_line = start
            lo, hi = _window(src.lines, start, end + 1, target, count)
            prefix = "".join(src.lines[lo:start]) + indent
            middle = "".join(body)[len(indent):]
            suffix = "".join(src.lines[end + 1:hi])
        out.append(BenchRequest(
            request_id=f"{id_prefix}{len(out)}", kind=kind, target_tokens=target, source=src.name,
            cursor_line=cursor_line + 1, prefix=prefix, suffix=suffix, expected=middle, max_tokens=max_tokens,
        ))
    return out


def _typed_line(src: SourceFile, rng: random.Random, target: int, max_tokens: int, count: TokenCounter,
                id_prefix: str, first: int, most: int) -> list[BenchRequest]:
    """The requests of one line typed through: one per pause, in typing order (at most `most`)."""
    got = _code_line(src, rng, " " + THINK_AFTER, 2)
    if got is None:
        return []
    i, cuts = got
    line = src.lines[i].rstrip("\r\n")
    line_end = src.lines[i][len(line):]
    # One window for the whole line, as an editor's file around a line being typed hardly moves.
    lo, hi = _window(src.lines, i, i + 1, target - count(line[:cuts[0]]), count)
    out = []
    for j in cuts[:min(TYPING_PAUSES, most)]:
        out.append(BenchRequest(
            request_id=f"{id_prefix}{first + len(out)}", kind="typing", target_tokens=target, source=src.name,
            cursor_line=i + 1, prefix="".join(src.lines[lo:i]) + line[:j],
            suffix=line_end + "".join(src.lines[i + 1:hi]), expected=line[j:], max_tokens=max_tokens,
        ))
    return out


def python_version() -> str:
    return sys.version.split()[0]
