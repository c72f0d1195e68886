#!/usr/bin/env python
"""Cross-file completion quality: exact match with vs without `codefill lsp`'s cross-file context.

The project is a real multi-file Python package installed from PyPI (default `mcp`: see
`DEFAULT_PACKAGE`). Its modules are copied into a temporary workspace laid out like a checkout
(`WORKSPACE/<package>/<package>/...`, so `repo_name` is the package name and paths read
`mcp/server/session.py`).

Cases. With `ast`, every call whose callee is a function or class defined at the top level of
ANOTHER module of the package, reached through the calling module's module-level imports
(`from .x import f`, `from pkg.x import f as g`, `from . import x; x.f(...)`,
`import pkg.x as y; y.f(...)`, following re-exports such as `from .x import f` in an
`__init__.py` to the module that really defines `f`). One case per line (its leftmost such
call). The cursor goes right before the callee expression (`f` or `y.f`); the middle is the
rest of that line. The document the context engine sees is the file with that rest removed
(the line ends at the cursor, every other line is kept), as while the user types it; only this
file is open, the engine reads the imported workspace files from disk. A deterministic sample
of `--limit` cases (seeded) is taken round-robin over files, so it spreads across the package.

Each case is asked twice of a codefill server (`/v1/completions`, greedy, single line):
WITH `files` = the context engine's cross-file pieces, and WITHOUT (`files: []`), the same
prefix, suffix, path and repo_name otherwise. Scores:

* exact match: the completion, trailing whitespace stripped, equals the middle (same);
* callee correct: the completion starts with the callee expression (`f` / `y.f`) followed by
  a character that cannot continue the name;
* definition in context: a cross-file piece from the defining module holds `def f` / `class f`.

Rates are over the cases where both requests were answered (failed requests are counted apart);
after `--max-errors` failures the rest are skipped, and `--resume` reuses an earlier run's answers.
`--raw-fim-template qwen` drives a server without `suffix` (vLLM's own) the way `codefill lsp`'s
raw_fim_template setting does: the prompt codefill would build is built here (`render_prompt`),
sent with `stop: ["\n"]` and the template's end tokens as `stop_token_ids`.

    python benchmarks/crossfile_quality.py --url http://127.0.0.1:8000 [--limit 60 --seed 0]
        [--concurrency 2] [--package mcp] [--budget-tokens 2048 --crossfile-budget-tokens 1024]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import datetime as _dt
import importlib.metadata
import importlib.util
import json
import random
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from lsp.context import CompletionContext, ContextBuilder, render_prompt  # noqa: E402
from lsp.documents import DocumentStore  # noqa: E402
from model.evaluation.clients import (  # noqa: E402
    QWEN_FIM_STOP_TOKEN_IDS,
    RAW_NEUTRAL_SAMPLING,
    CompletionResult,
    complete_fim,
    complete_raw_fim,
    first_model,
    list_models,
    parse_stop_ids,
)

# mcp (the Model Context Protocol SDK, pure Python): 120 hand-written modules (client, server,
# shared, auth, cli) with hundreds of calls between them. Its first release (November 2024) came
# after Qwen2.5-Coder's training data was collected, and 2.x is newer still, so the model cannot
# have memorised these lines. (pygls 2.x and datasketch give under 50 cases; cattrs, rich and
# httpx are old enough to be in the training data.) It comes with vLLM (mcp is a dependency of
# vllm, anthropic and huggingface_hub), so it is installed wherever codefill serves.
DEFAULT_PACKAGE = "mcp"
CONDITIONS = ("with", "without")
# How many re-exports (`from .x import f` in an `__init__`) are followed to the real definition.
_MAX_REEXPORT_HOPS = 5


# --- the package --------------------------------------------------------------


def package_source(import_name: str) -> Path:
    """The installed package's directory (a namespace or single-module package is refused)."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{import_name!r} is not an installed package (a folder with modules)")
    return Path(list(spec.submodule_search_locations)[0])


def package_version(import_name: str) -> str | None:
    dists = importlib.metadata.packages_distributions().get(import_name) or [import_name]
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def copy_package(source: Path, workspace: Path, import_name: str) -> Path:
    """Copy the package's .py files to `workspace/<import_name>/` (no caches, no binaries)."""
    target = workspace / import_name
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return target


# --- case extraction ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    file: str  # workspace-relative path of the calling module, "/"-separated
    line: int  # 0-based
    character: int  # LSP (UTF-16) column of the cursor
    column: int  # the same as a string index into the line
    callee: str  # the callee expression as written ("f", "mod.f")
    definition_file: str  # workspace-relative path of the module that defines it
    definition_name: str  # its name there
    via_reexport: bool  # reached through an `__init__`-style re-export
    line_prefix: str  # the line left of the cursor
    middle: str  # the rest of the line (trailing whitespace stripped)

    @property
    def case_id(self) -> str:
        return f"{self.file}:{self.line + 1}"


@dataclass
class _Module:
    name: str  # dotted
    rel: str  # workspace-relative path
    is_package: bool  # an __init__.py
    tree: ast.Module
    lines: list[str]
    definitions: set[str] = field(default_factory=set)  # top-level def / class names
    # local name -> ("module", dotted) or ("symbol", dotted module, name there)
    bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _module_name(rel_to_root: Path) -> str:
    parts = list(rel_to_root.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, and those one level down in top-level if/try blocks: where the
    context engine looks for imports too (version guards, `if TYPE_CHECKING:`)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out += stmt.body + stmt.orelse
        elif isinstance(stmt, ast.Try):
            out += stmt.body + stmt.orelse + stmt.finalbody
            for handler in stmt.handlers:
                out += handler.body
    return out


def load_modules(root: Path, top: str) -> dict[str, _Module]:
    """Every module under `root/top` (the package folder), parsed, by dotted name."""
    modules: dict[str, _Module] = {}
    for path in sorted((root / top).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        rel = path.relative_to(root)
        mod = _Module(_module_name(rel), rel.as_posix(), path.name == "__init__.py", tree,
                      text.split("\n"))
        for stmt in _top_statements(tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                mod.definitions.add(stmt.name)
        modules[mod.name] = mod
    for mod in modules.values():
        _bind_imports(mod, modules, top)
    return modules


def _bind_imports(mod: _Module, modules: dict[str, _Module], top: str) -> None:
    for stmt in _top_statements(mod.tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.split(".")[0] != top:
                    continue
                if alias.asname:
                    if alias.name in modules:
                        mod.bindings[alias.asname] = ("module", alias.name)
                else:  # `import pkg.a.b` binds `pkg`; attribute chains walk down from it
                    mod.bindings[top] = ("module", top)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
                for _ in range(stmt.level - 1):
                    package = package.rpartition(".")[0]
                base = ".".join(p for p in (package, stmt.module or "") if p)
            else:
                base = stmt.module or ""
                if base.split(".")[0] != top:
                    continue  # another package: not the project's code
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    mod.bindings[local] = ("module", sub)
                elif base in modules:
                    mod.bindings[local] = ("symbol", base, alias.name)


def _definition(modules: dict[str, _Module], module: str, name: str) -> tuple[str, str, int] | None:
    """(defining module, name, hops): where `module.name` is really defined, following re-exports."""
    for hops in range(_MAX_REEXPORT_HOPS + 1):
        mod = modules.get(module)
        if mod is None:
            return None
        if name in mod.definitions:
            return module, name, hops
        binding = mod.bindings.get(name)
        if binding is None or binding[0] != "symbol":
            return None
        module, name = binding[1], binding[2]
    return None


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _callee(mod: _Module, modules: dict[str, _Module], func: ast.expr) -> tuple[str, str, int] | None:
    """The (defining module, name, hops) of a call's callee, when it is the package's code."""
    parts = _dotted(func)
    if not parts:
        return None
    binding = mod.bindings.get(parts[0])
    if binding is None:
        return None
    if binding[0] == "symbol":
        return _definition(modules, binding[1], binding[2]) if len(parts) == 1 else None
    current = binding[1]
    for part in parts[1:-1]:  # down through submodules: `pkg.a.b.f`
        current = f"{current}.{part}"
        if current not in modules:
            return None
    return _definition(modules, current, parts[-1]) if len(parts) > 1 else None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def extract_cases(root: Path, top: str) -> list[Case]:
    """All cross-module call cases of the package `root/top`, in file and line order."""
    modules = load_modules(root, top)
    cases: list[Case] = []
    for mod in sorted(modules.values(), key=lambda m: m.rel):
        best: dict[int, tuple[int, ast.expr, tuple[str, str, int]]] = {}  # line -> leftmost call
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if func.lineno != func.end_lineno:
                continue
            found = _callee(mod, modules, func)
            if found is None or found[0] == mod.name:
                continue
            line = func.lineno - 1
            if line not in best or func.col_offset < best[line][0]:
                best[line] = (func.col_offset, func, found)
        for line, (col_bytes, func, (def_module, def_name, hops)) in sorted(best.items()):
            text = mod.lines[line]
            # ast columns are UTF-8 byte offsets; the editor counts characters.
            encoded = text.encode("utf-8")
            column = len(encoded[:col_bytes].decode("utf-8"))
            callee = encoded[col_bytes:func.end_col_offset].decode("utf-8")
            middle = text[column:].rstrip()
            cases.append(Case(
                file=mod.rel, line=line, character=_utf16_len(text[:column]), column=column,
                callee=callee, definition_file=modules[def_module].rel, definition_name=def_name,
                via_reexport=hops > 0, line_prefix=text[:column], middle=middle,
            ))
    return cases


def sample_cases(cases: Sequence[Case], limit: int | None, seed: int) -> list[Case]:
    """A deterministic sample, round-robin over files (in a seeded order), so one big module
    cannot take it over. Depends only on the cases, `limit` and `seed`."""
    if limit is None or limit >= len(cases):
        return list(cases)
    rng = random.Random(seed)
    by_file: dict[str, list[Case]] = {}
    for case in cases:
        by_file.setdefault(case.file, []).append(case)
    files = sorted(by_file)
    rng.shuffle(files)
    queues = []
    for name in files:
        queue = list(by_file[name])
        rng.shuffle(queue)
        queues.append(queue)
    chosen: list[Case] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return sorted(chosen, key=lambda c: (c.file, c.line))


# --- context ------------------------------------------------------------------


def masked_text(source: str, case: Case) -> str:
    """The file as the user has it while typing the call: the line ends at the cursor."""
    lines = source.split("\n")
    lines[case.line] = lines[case.line][:case.column]
    return "\n".join(lines)


def build_context(builder: ContextBuilder, workspace: Path, case: Case) -> CompletionContext:
    """The context engine's context at the case's cursor, with only the case's file open."""
    path = workspace / case.file
    text = masked_text(path.read_text(encoding="utf-8"), case)
    uri = path.as_uri()
    builder.store.open(uri, "python", 1, text)
    try:
        return builder.build(uri, case.line, case.character)
    finally:
        builder.store.close(uri)


def definition_shown(case: Case, files: Sequence[tuple[str, str]]) -> bool:
    """Whether a piece of the defining module holds the callee's `def` or `class` line."""
    pattern = re.compile(rf"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+{re.escape(case.definition_name)}\b", re.M)
    return any(path == case.definition_file and pattern.search(content) for path, content in files)


# --- scoring ------------------------------------------------------------------


def exact_match(completion: str, middle: str) -> bool:
    return completion.rstrip() == middle.rstrip()


def callee_correct(completion: str, callee: str) -> bool:
    if not completion.startswith(callee):
        return False
    rest = completion[len(callee):]
    return not rest or not (rest[0].isalnum() or rest[0] in "_.")


@dataclass
class Outcome:
    completion: str | None = None  # None: the request failed
    exact_match: bool = False
    callee_correct: bool = False
    prompt_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None


@dataclass
class CaseResult:
    case: Case
    context_key: str  # the context engine's hash of everything sent but the files choice
    definition_in_context: bool
    crossfile_pieces: list[str]  # paths of the pieces
    crossfile_chars: int
    outcomes: dict[str, Outcome]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self.case)
        out["id"] = self.case.case_id
        out.update(context_key=self.context_key, definition_in_context=self.definition_in_context,
                   crossfile_pieces=self.crossfile_pieces, crossfile_chars=self.crossfile_chars)
        out.update({name: asdict(o) for name, o in self.outcomes.items()})
        return out


def previous_outcomes(path: str | None, model: str, max_tokens: int) -> dict[tuple[str, str], Outcome]:
    """Answered requests of an earlier run (`--resume`), by (context key, condition): a run cut
    short by a dying server goes on where it stopped. Only answers to the very same context,
    model and max_tokens are reused."""
    if not path or not Path(path).is_file():
        return {}
    earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    if earlier.get("server", {}).get("model") != model or earlier.get("settings", {}).get("max_tokens") != max_tokens:
        return {}
    out: dict[tuple[str, str], Outcome] = {}
    for row in earlier.get("results", []):
        for condition in CONDITIONS:
            outcome = row.get(condition) or {}
            if row.get("context_key") and outcome.get("error") is None:
                out[(row["context_key"], condition)] = Outcome(**outcome)
    return out


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Rates over the cases where both requests were answered: the comparison stays paired when
    a request fails (failures are counted, not scored as misses)."""
    scored = [r for r in results if all(o.error is None for o in r.outcomes.values())]
    n = len(scored)
    summary: dict[str, Any] = {"cases": len(results), "scored": n}
    for name in CONDITIONS:
        outs = [r.outcomes[name] for r in scored]
        em = sum(o.exact_match for o in outs)
        callee = sum(o.callee_correct for o in outs)
        tokens = [o.prompt_tokens for o in outs if o.prompt_tokens is not None]
        latencies = [o.latency_s for o in outs if o.latency_s is not None]
        summary[name] = {
            "exact_match": _rate(em, n), "exact_matches": em,
            "callee_correct": _rate(callee, n), "callee_corrects": callee,
            "errors": sum(r.outcomes[name].error is not None for r in results),
            "prompt_tokens_mean": round(statistics.fmean(tokens), 1) if tokens else None,
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        }
    shown = [r for r in scored if r.definition_in_context]
    summary["definition_in_context"] = len(shown)
    summary["with_any_crossfile_piece"] = sum(bool(r.crossfile_pieces) for r in scored)
    summary["via_reexport"] = sum(r.case.via_reexport for r in scored)
    # Where the definition was shown, and where it was not: what the context is worth when it works.
    for label, subset in (("definition_shown", shown),
                          ("definition_not_shown", [r for r in scored if not r.definition_in_context])):
        summary[label] = {name: {"exact_match": _rate(sum(r.outcomes[name].exact_match for r in subset), len(subset)),
                                 "callee_correct": _rate(sum(r.outcomes[name].callee_correct for r in subset),
                                                         len(subset))}
                          for name in CONDITIONS}
        summary[label]["cases"] = len(subset)
    # Paired: cases that only one condition got right.
    summary["em_only_with"] = sum(r.outcomes["with"].exact_match and not r.outcomes["without"].exact_match
                                  for r in scored)
    summary["em_only_without"] = sum(r.outcomes["without"].exact_match and not r.outcomes["with"].exact_match
                                     for r in scored)
    return summary


def markdown_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    n = s["scored"]
    lines = [
        "| cross-file context | exact match | callee name correct | mean prompt tokens | latency p50 (s) | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONDITIONS:
        m = s[name]
        lines.append(f"| {name} | {m['exact_match']:.3f} ({m['exact_matches']}/{n}) "
                     f"| {m['callee_correct']:.3f} ({m['callee_corrects']}/{n}) | {m['prompt_tokens_mean']} "
                     f"| {m['latency_p50_s']} | {m['errors']} |")
    shown, hidden = s["definition_shown"], s["definition_not_shown"]
    mode = f"raw FIM template {result['settings']['raw_fim_template']}" if result["settings"]["raw_fim_template"] \
        else "suffix + codefill field"
    lines += [
        "",
        f"server: {result['server']['url']} ({result['server']['model']}, {mode})",
        f"package: {result['package']['name']} {result['package']['version']}  ·  cases: {s['cases']} of "
        f"{result['cases_total']} ({n} with both requests answered)  ·  definition in the cross-file context: {s['definition_in_context']}/{n} "
        f"(any piece: {s['with_any_crossfile_piece']}/{n})  ·  EM only with: {s['em_only_with']}, "
        f"only without: {s['em_only_without']}  ·  wall time: {result['wall_time_s']:.0f} s",
        f"where the definition was shown ({shown['cases']}): EM with {shown['with']['exact_match']:.3f} / "
        f"without {shown['without']['exact_match']:.3f}; where not ({hidden['cases']}): "
        f"with {hidden['with']['exact_match']:.3f} / without {hidden['without']['exact_match']:.3f}",
    ]
    return "\n".join(lines)


# --- running ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000", help="codefill server")
    p.add_argument("--model", default=None, help="default: the first model the server lists")
    p.add_argument("--api-key", default=None)
    p.add_argument("--package", default=DEFAULT_PACKAGE, help="import name of an installed package")
    p.add_argument("--limit", type=int, default=100, help="cases to run (default 100; 0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=2, help="cases (so requests) in flight at once")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--budget-tokens", type=int, default=2048, help="ContextBuilder local window budget")
    p.add_argument("--crossfile-budget-tokens", type=int, default=1024, help="ContextBuilder cross-file budget")
    p.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="for a server without `suffix` (vLLM's own): build the prompt here with this codefill "
                        "template, as `codefill lsp` does with its raw_fim_template setting (e.g. qwen)")
    p.add_argument("--raw-stop-token-ids", default=",".join(map(str, QWEN_FIM_STOP_TOKEN_IDS)),
                   help="vLLM `stop_token_ids` sent with --raw-fim-template, comma-separated, or 'none' "
                        "(default: Qwen2.5-Coder's FIM end tokens, as codefill's template)")
    p.add_argument("--request-timeout", type=float, default=600.0)
    p.add_argument("--max-errors", type=int, default=5,
                   help="after this many failed requests the rest are skipped, not sent (default 5)")
    p.add_argument("--resume", default=None, metavar="JSON",
                   help="reuse the answered requests of an earlier run's JSON (same contexts, model, max_tokens)")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/DATE-crossfile-quality.json);"
                                               " the Markdown table goes next to it (.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", str(Path(__file__).resolve().relative_to(REPO)), *argv])


async def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    source = package_source(args.package)
    version = package_version(args.package)
    with tempfile.TemporaryDirectory(prefix="codefill-crossfile-") as tmp:
        # A checkout-like layout: WORKSPACE/<pkg>/<pkg>/...; the workspace folder is named after it.
        workspace = Path(tmp) / args.package
        copy_package(source, workspace, args.package)
        modules = sum(1 for _ in workspace.rglob("*.py"))
        all_cases = extract_cases(workspace, args.package)
        cases = sample_cases(all_cases, args.limit or None, args.seed)
        builder = ContextBuilder(DocumentStore([str(workspace)]), budget_tokens=args.budget_tokens,
                                 crossfile_budget_tokens=args.crossfile_budget_tokens)
        # Contexts are built up front (milliseconds each) while the workspace exists.
        contexts = [build_context(builder, workspace, case) for case in cases]

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        cards = await list_models(args.url, args.api_key, client=client)
        semaphore = asyncio.Semaphore(max(1, args.concurrency))
        reused = previous_outcomes(args.resume, model, args.max_tokens)
        stop_ids = parse_stop_ids(args.raw_stop_token_ids)

        async def complete(ctx: CompletionContext) -> CompletionResult:
            if args.raw_fim_template:
                # The same prompt codefill's server would build; the client cuts at the newline.
                r = await complete_raw_fim(args.url, model, render_prompt(ctx, args.raw_fim_template),
                                           args.max_tokens, stop=["\n"], api_key=args.api_key,
                                           stop_token_ids=stop_ids, extra=RAW_NEUTRAL_SAMPLING, client=client,
                                           timeout=args.request_timeout)
                return dataclasses.replace(r, text=r.text.split("\n", 1)[0].rstrip())
            files = [{"path": p, "content": c} for p, c in ctx.files]
            codefill = {"multiline": False, "path": ctx.path, "repo_name": ctx.repo_name, "files": files}
            return await complete_fim(args.url, model, ctx.prefix, ctx.suffix, args.max_tokens, stop=["\n"],
                                      api_key=args.api_key, codefill=codefill, client=client,
                                      timeout=args.request_timeout)
        failures = reuses = 0

        async def ask(case: Case, ctx: CompletionContext, condition: str) -> Outcome:
            nonlocal failures, reuses
            earlier = reused.get((ctx.key, condition))
            if earlier is not None:
                reuses += 1
                return earlier
            if condition == "without":
                ctx = dataclasses.replace(ctx, files=())
            if failures > args.max_errors:
                # The server is likely gone (an engine that died answers 503 to everything).
                return Outcome(error="skipped: too many failed requests")
            try:
                r = await complete(ctx)
            except Exception as exc:  # noqa: BLE001 - recorded; the case is left out of the scores
                failures += 1
                return Outcome(error=f"{type(exc).__name__}: {exc}")
            return Outcome(completion=r.text, exact_match=exact_match(r.text, case.middle),
                           callee_correct=callee_correct(r.text, case.callee),
                           prompt_tokens=r.prompt_tokens, latency_s=round(r.latency_s, 3))

        progress = None
        if not args.quiet:
            from tqdm import tqdm

            progress = tqdm(total=2 * len(cases), desc="requests", unit="req", file=sys.stderr)

        async def one(i: int, case: Case, ctx: CompletionContext) -> CaseResult:
            # Alternate which condition goes first: prefix caching then favours neither.
            order = CONDITIONS if i % 2 == 0 else CONDITIONS[::-1]
            outcomes: dict[str, Outcome] = {}
            # `--concurrency` cases in flight, each sending its two requests back to back: a run cut
            # short (a server that dies) still leaves whole pairs, and both see the same server load.
            async with semaphore:
                for condition in order:
                    outcomes[condition] = await ask(case, ctx, condition)
                    if progress is not None:
                        progress.update(1)
            return CaseResult(case, ctx.key, definition_shown(case, ctx.files), [p for p, _ in ctx.files],
                              sum(len(c) for _, c in ctx.files), {c: outcomes[c] for c in CONDITIONS})

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(i, c, x) for i, (c, x) in enumerate(zip(cases, contexts))))
        wall = time.monotonic() - t0
        if progress is not None:
            progress.close()

    result: dict[str, Any] = {
        "benchmark": "crossfile-quality",
        "date": started.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "package": {"name": args.package, "version": version, "source": str(source), "modules": modules},
        "server": {"url": args.url, "model": model, "models": cards,
                   "request": ({"raw_fim_template": args.raw_fim_template, "stop": ["\n"], "stop_token_ids": stop_ids,
                                **RAW_NEUTRAL_SAMPLING, "client_postprocess": "cut at first newline, rstrip"}
                               if args.raw_fim_template else {"suffix": True, "codefill": {"multiline": False}})},
        "settings": {"limit": args.limit, "seed": args.seed, "concurrency": args.concurrency,
                     "max_tokens": args.max_tokens, "temperature": 0.0, "stop": ["\n"],
                     "raw_fim_template": args.raw_fim_template, "budget_tokens": args.budget_tokens, "crossfile_budget_tokens": args.crossfile_budget_tokens,
                     "cursor": "right before the callee expression; middle = rest of the line"},
        "cases_total": len(all_cases),
        "requests_reused": reuses,
        "files_with_cases": len({c.file for c in all_cases}),
        "files_sampled": len({c.file for c in cases}),
        "wall_time_s": round(wall, 1),
        "summary": summarize(results),
        "results": [r.to_dict() for r in results],
    }
    result["table_markdown"] = markdown_table(result)
    return result


def default_out() -> Path:
    return REPO / "benchmarks" / "results" / f"{_dt.date.today().isoformat()}-crossfile-quality.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(args, argv))
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    table = f"`{result['command']}`\n\n{result['table_markdown']}\n"
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    print()
    print(result["table_markdown"])
    print(f"\nwrote {out} and {out.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
