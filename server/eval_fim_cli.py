"""`codefill eval fim`: multi-language fill-in-the-middle exact match and edit similarity of a running server.

The cases (`model.evaluation.fim`) come from real code we did not write, in Python,
JavaScript, TypeScript, Java, Go, Rust, C and C++: registry packages pinned by version
and sha256 (model/evaluation/fim_sources.json), downloaded once into `--data-dir`
(default $CODEFILL_HOME/fim; `codefill eval fim-prepare` does only that). `--sources DIR`
takes the files of a local folder instead, `--cases FILE` the cases `fim-prepare --out`
wrote. Five cursor layouts, each its own row: mid-line, line-start, line-end (the newline
after the cursor in the suffix), santacoder (santacoder-fim / "HumanEval-FIM": the prefix
without its final newline, the suffix without its leading one, the middle "\\n" + line)
and block (a statement or block body of several lines, chosen with tree-sitter).
`--limit` cases per language are spread over the layouts, drawn with `--seed`.

Each case is completed greedily (temperature 0) by one or more variants, back to back:

* `default`: `/v1/completions` with `prompt` = prefix and `suffix` = suffix (any server
  that takes OpenAI's `suffix`), and `"codefill": {"language": NAME}` as codefill lsp sends
  it (`--send-language off` leaves it out); `--postprocess off` adds `"codefill": {"postprocess":
  false}`, `--rules JSON` adds `"codefill": {"rules": JSON}` (per-rule switches, e.g.
  '{"closing_line": false}'); `--multiline hint` sends `"multiline": true` for block
  cases and false for the others (default: the server decides).
* `raw-NAME` (`--raw-fim-template NAME`; servers without `suffix`, e.g. vLLM's own):
  the FIM prompt built with codefill's template NAME and no `suffix`; the text is cut
  at the template's control/stop token strings, nothing else.
* `--compare`: default, postprocess-off and raw-NAME (qwen unless given) side by side
  (the raw variant at `--raw-url` when given); `--ablate`: default, each post-processing
  rule off in turn (`model.postprocess.RULES`), and postprocess-off.
* `--offline` (with `--ablate` or `--rules`): those rule sets are not requested: the rules
  run here, as the server runs them (`model.postprocess`), on the text postprocess-off got
  for the case, so the model writes each case once (plus the default's request) however
  many rule sets are compared. The server stops generating where its rules end the
  completion, which changes no text; their latencies and token counts are not measured.

Scores per language and layout: exact match (line layouts: stripped completion ==
stripped middle, as santacoder-fim compares; block: the same stripped non-blank lines),
Qwen's first-line rule for line layouts (the first line of the text, or the second when
it starts with a newline), edit similarity (1 - normalized Levenshtein), mean length,
empty rate. Progress goes to stderr (tqdm); the exact-match tables to stdout; the full
report to `--out` (JSON, default `eval-fim-<date>.json` in the current directory) and
the same name with `.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.cli_options import comma_list, default_out, extra_body
from server.eval_reports import command_block, fmt, md_cell, run_and_report
from server.raw_fim import cut_at_markers, template_markers

DEFAULT_MAX_TOKENS = {"line": 64, "block": 256}


def _add_case_args(p: argparse.ArgumentParser) -> None:
    from model.evaluation import fim

    p.add_argument("--languages", type=comma_list, default=None,
                   help=f"comma-separated, of {','.join(fim.LANGUAGES)} (default all)")
    p.add_argument("--layouts", type=comma_list, default=list(fim.LAYOUTS),
                   help=f"comma-separated, of {','.join(fim.LAYOUTS)} (default all)")
    p.add_argument("--limit", type=int, default=fim.DEFAULT_LIMIT,
                   help=f"cases per language, spread evenly over the layouts (default {fim.DEFAULT_LIMIT})")
    p.add_argument("--seed", type=int, default=0, help="which cases (default 0)")
    p.add_argument("--prefix-chars", type=int, default=fim.DEFAULT_PREFIX_CHARS, metavar="N",
                   help=f"keep the prefix's last whole lines within N characters (default {fim.DEFAULT_PREFIX_CHARS})")
    p.add_argument("--suffix-chars", type=int, default=fim.DEFAULT_SUFFIX_CHARS, metavar="N",
                   help=f"keep the suffix's first whole lines within N characters (default {fim.DEFAULT_SUFFIX_CHARS})")
    p.add_argument("--window-snap-lines", type=int, default=None, metavar="N",
                   help="start a clipped prefix where codefill lsp's window would start with --window-snap-lines N "
                        "(its first line on a multiple of the snap step; default: as clipped, as with N=1)")
    p.add_argument("--data-dir", default=None, help="downloaded packages and their files (default $CODEFILL_HOME/fim)")
    p.add_argument("--sources", default=None, metavar="DIR",
                   help="take the files of this folder instead of the pinned packages (language from the extension)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def add_fim_parsers(bench: argparse._SubParsersAction) -> None:
    """Register `codefill eval fim` and `codefill eval fim-prepare`."""
    from model.templates.fim import FIM_TEMPLATES

    h = bench.add_parser(
        "fim", help="multi-language FIM from pinned real code: exact match and edit similarity per language "
                    "and cursor layout",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    h.add_argument("--model", default=None, help="model name to request (default: the first of GET /v1/models)")
    h.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY`")
    _add_case_args(h)
    h.add_argument("--cases", default=None, metavar="FILE",
                   help="run the cases of this JSONL file (from `codefill eval fim-prepare --out`)")
    h.add_argument("--concurrency", type=int, default=1, help="cases in flight at once (default 1)")
    h.add_argument("--max-tokens", type=int, default=None,
                   help=f"most tokens per completion (default {DEFAULT_MAX_TOKENS['line']} for line layouts, "
                        f"{DEFAULT_MAX_TOKENS['block']} for block)")
    h.add_argument("--postprocess", choices=("on", "off"), default="on",
                   help="off sends \"codefill\": {\"postprocess\": false} (default on)")
    h.add_argument("--rules", default=None, metavar="JSON",
                   help="per-rule switches sent as \"codefill\": {\"rules\": JSON}, e.g. '{\"closing_line\": false}'")
    h.add_argument("--send-language", choices=("on", "off"), default="on",
                   help="on sends the file's language as \"codefill\": {\"language\": NAME} (a tree-sitter "
                        "grammar name, as codefill lsp does; it enables syntax-aware post-processing); "
                        "default on")
    h.add_argument("--multiline", choices=("auto", "hint"), default="auto",
                   help="hint: send \"multiline\": true for block cases, false for line cases (default auto: "
                        "the server decides)")
    h.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="build the FIM prompt client-side with codefill's template NAME "
                        f"({', '.join(sorted(FIM_TEMPLATES))}) and send it without `suffix`")
    h.add_argument("--raw-url", default=None, help="where the raw variant goes with --compare (default --url)")
    h.add_argument("--raw-model", default=None, help="model at --raw-url (default: the first it lists)")
    h.add_argument("--extra-body", default=None, metavar="JSON",
                   help="JSON object merged into every request body, e.g. '{\"repetition_penalty\": 1.0}'")
    h.add_argument("--raw-extra-body", default=None, metavar="JSON",
                   help="JSON object merged into the raw variant's requests (default with --raw-url: "
                        "repetition_penalty 1.0 and, for the qwen template, its end tokens as vLLM's "
                        "stop_token_ids)")
    h.add_argument("--compare", action="store_true",
                   help="run default, postprocess-off and raw-NAME (qwen unless --raw-fim-template) side by side")
    h.add_argument("--ablate", action="store_true",
                   help="run default, each post-processing rule off in turn, and postprocess-off")
    h.add_argument("--offline", action="store_true",
                   help="with --ablate or --rules: apply those rule sets here to postprocess-off's text instead "
                        "of requesting them (postprocess-off is added; default is still requested)")
    h.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request (default 300)")
    h.add_argument("--out", default=None,
                   help="JSON report (default eval-fim-<date>.json in the current directory); the Markdown "
                        "report goes beside it with .md")
    h.set_defaults(func=fim_command)

    p = bench.add_parser(
        "fim-prepare", help="download and check the pinned sources of `eval fim`; optionally write its cases",
        description="Download the pinned packages of `codefill eval fim` (pip download, npm pack, apt-get "
                    "download), check their sha256, keep their files under --data-dir, and print what each "
                    "offers. With --out, write the cases `eval fim` would run (same arguments) as JSONL, for "
                    "`eval fim --cases`.",
    )
    _add_case_args(p)
    p.add_argument("--out", default=None, metavar="FILE", help="write the cases as JSONL")
    p.set_defaults(func=fim_prepare_command)


# --- cases -----------------------------------------------------------------------------


def _check_names(given: list[str] | None, known: tuple[str, ...], what: str) -> None:
    for x in given or ():
        if x not in known:
            raise ValueError(f"unknown {what} {x!r}; known: {', '.join(known)}")


def load_files(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """The source files and a description of where they come from (for the report)."""
    from tqdm import tqdm

    from model.evaluation import fim

    _check_names(args.languages, fim.LANGUAGES, "language")
    _check_names(args.layouts, fim.LAYOUTS, "layout")
    if args.sources:
        files = fim.sources_from_dir(Path(args.sources))
        if args.languages:
            files = [f for f in files if f.language in args.languages]
        return files, {"source": "folder", "path": str(Path(args.sources).resolve()), "files": len(files)}
    pins = [p for p in fim.load_pins() if not args.languages or p.language in args.languages]
    data_dir = Path(args.data_dir) if args.data_dir else fim.default_data_dir()
    bar = tqdm(total=len(pins), desc="fim sources", unit="package", file=sys.stderr, disable=args.quiet,
               dynamic_ncols=True)
    counts: dict[tuple[str, str], int] = {}

    def done(pin: Any, n: int) -> None:
        counts[(pin.language, pin.package)] = n
        bar.set_postfix_str(f"{pin.package} {pin.artifact.version}", refresh=False)
        bar.update(1)

    try:
        files = fim.prepare_sources(pins, data_dir, progress=done)
    finally:
        bar.close()
    packages = [{**p.to_dict(), "files": counts.get((p.language, p.package), 0)} for p in pins]
    return files, {"source": "pinned", "data_dir": str(data_dir), "packages": packages}


def build_cases(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    from model.evaluation import fim

    if args.limit <= 0:
        raise ValueError("--limit must be positive")
    if getattr(args, "cases", None):
        cases = fim.read_cases(Path(args.cases))
        cases = [c for c in cases if (not args.languages or c.language in args.languages)
                 and c.layout in args.layouts]
        return snap_windows(cases, args), {"source": "cases", "path": str(Path(args.cases).resolve())}
    files, data = load_files(args)
    cases = fim.sample_cases(files, limit=args.limit, seed=args.seed, languages=args.languages,
                             layouts=args.layouts, prefix_chars=args.prefix_chars, suffix_chars=args.suffix_chars)
    return snap_windows(cases, args), data


def snap_windows(cases: list[Any], args: argparse.Namespace) -> list[Any]:
    """With --window-snap-lines: each clipped prefix loses the lines above where codefill lsp's
    window would start (lsp.context.windows.snapped_start), which is what the snap costs in context."""
    n = getattr(args, "window_snap_lines", None)
    if n is None:
        return cases
    if n <= 0:
        raise ValueError("--window-snap-lines must be positive")
    import dataclasses

    from lsp.context.windows import snapped_start

    out = []
    for c in cases:
        # The cursor's line, 0-based: the middle's line, or the one above where the middle starts
        # with its newline (see model.evaluation.fim.split_at).
        line = c.line - 1 - (c.layout in ("line-end", "santacoder"))
        start = line - c.prefix.count("\n")
        drop = 0 if start <= 0 else min(snapped_start(start, line, n) - start, c.prefix.count("\n"))
        if drop > 0:
            cut = 0
            for _ in range(drop):
                cut = c.prefix.index("\n", cut) + 1
            c = dataclasses.replace(c, prefix=c.prefix[cut:])
        out.append(c)
    return out


def fim_prepare_command(args: argparse.Namespace) -> int:
    from collections import Counter

    from model.evaluation import fim

    files, data = load_files(args)
    by_package = Counter((f.language, f.package) for f in files)
    lines = Counter()
    for f in files:
        lines[(f.language, f.package)] += f.text.count("\n")
    print("| language | package | version | registry | files | lines |")
    print("|---|---|---|---|---:|---:|")
    versions = {(p["language"], p["name"]): p for p in data.get("packages", [])}
    for (language, package), n in sorted(by_package.items(), key=lambda kv: (fim.LANGUAGES.index(kv[0][0])
                                                                            if kv[0][0] in fim.LANGUAGES else 99,
                                                                            kv[0][1])):
        pin = versions.get((language, package), {})
        print(f"| {language} | {package} | {pin.get('version', '-')} | {pin.get('registry', '-')} | {n} "
              f"| {lines[(language, package)]} |")
    if "data_dir" in data:
        print(f"\nfiles under {data['data_dir']}/sources")
    if args.out:
        cases = fim.sample_cases(files, limit=args.limit, seed=args.seed, languages=args.languages,
                                 layouts=args.layouts, prefix_chars=args.prefix_chars,
                                 suffix_chars=args.suffix_chars)
        out = fim.write_cases(cases, Path(args.out))
        per = Counter(c.language for c in cases)
        print(f"wrote {len(cases)} cases ({', '.join(f'{k} {v}' for k, v in per.items())}) to {out}")
    return 0


# --- variants --------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    codefill: dict[str, Any]  # the request's `codefill` object (none sent when empty)
    template: str | None = None  # a raw variant: codefill's FIM template, no `suffix`
    url: str | None = None  # None: --url
    extra: dict[str, Any] | None = None  # merged into this variant's request bodies
    offline: bool = False  # its post-processing runs here, on postprocess-off's text (--offline)

    def request(self, multiline: str, send_language: str = "off") -> dict[str, Any]:
        if self.template is not None:
            return {"fim_template": self.template, "suffix": False, "extra_body": self.extra or {},
                    "client_postprocess": "cut at the template's control/stop tokens"}
        codefill: dict[str, Any] = dict(self.codefill)
        if send_language == "on":
            codefill["language"] = "<the file's tree-sitter grammar>"
        if multiline == "hint":
            codefill["multiline"] = "<true for block cases, false for line cases>"
        if self.offline:
            return {"offline": "post-processed here from postprocess-off's text", "as_if": {"codefill": codefill}}
        return {"suffix": True, **({"codefill": codefill} if codefill else {})}


def rule_names() -> list[str]:
    """`model.postprocess.RULES`, read when asked for (the per-rule switches)."""
    try:
        from model.postprocess import RULES  # type: ignore[attr-defined]
    except ImportError:
        raise ValueError("--ablate needs model.postprocess.RULES (the names of the post-processing rules that "
                         "\"codefill\": {\"rules\": {...}} switches), and this codefill has none yet") from None
    return [str(getattr(r, "name", r)) for r in RULES]


def build_variants(args: argparse.Namespace) -> list[Variant]:
    from model.templates.fim import get_fim_template

    rules = None
    if args.rules is not None:
        try:
            rules = json.loads(args.rules)
        except ValueError as exc:
            raise ValueError(f"--rules is not valid JSON: {exc}") from None
        if not isinstance(rules, dict):
            raise ValueError("--rules must be a JSON object, e.g. '{\"closing_line\": false}'")
    template = args.raw_fim_template
    if template is not None:
        get_fim_template(template)  # an unknown name fails here, before any request
    off = Variant("postprocess-off", {"postprocess": False})
    raw_extra = extra_body(args.raw_extra_body) if args.raw_extra_body is not None else None
    variants: list[Variant] = []
    if template is not None and not (args.compare or args.ablate):
        variants.append(Variant(f"raw-{template}", {}, template=template, extra=raw_extra))
    elif args.postprocess == "off":
        variants.append(off)
    elif rules:
        variants.append(Variant("rules", {"rules": rules}))
    else:
        variants.append(Variant("default", {}))
    if args.ablate:
        for name in rule_names():
            variants.append(Variant(f"no-{name}", {"rules": {**(rules or {}), name: False}}))
    if args.compare or args.ablate:
        variants.append(off)
    if args.compare:
        t = template or "qwen"
        get_fim_template(t)
        if raw_extra is None and args.raw_url:  # vLLM's own server: as benchmarks/README.md drives it
            from model.evaluation.clients import QWEN_FIM_STOP_TOKEN_IDS, RAW_NEUTRAL_SAMPLING

            raw_extra = dict(RAW_NEUTRAL_SAMPLING)
            if t == "qwen":
                raw_extra["stop_token_ids"] = list(QWEN_FIM_STOP_TOKEN_IDS)
        variants.append(Variant(f"raw-{t}", {}, template=t, url=args.raw_url, extra=raw_extra))
    if args.offline:
        if not (args.ablate or rules):
            raise ValueError("--offline computes the --ablate and --rules variants; give one of them")
        for v in variants:
            v.offline = v.template is None and v.name not in ("postprocess-off", "default")
        if off.name not in {v.name for v in variants}:
            variants.append(off)
    seen: set[str] = set()
    return [v for v in variants if not (v.name in seen or seen.add(v.name))]


# --- the command -----------------------------------------------------------------------


def max_tokens_for(args: argparse.Namespace, layout: str) -> int:
    if args.max_tokens is not None:
        return args.max_tokens
    return DEFAULT_MAX_TOKENS["block" if layout == "block" else "line"]


async def run_eval(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the evaluation; return the JSON-able report."""
    import httpx
    from tqdm import tqdm

    from model.evaluation.clients import complete_fim, complete_raw_fim, first_model, list_models
    from model.evaluation.fim import FimCase, FimProgress, FimRecord, evaluate_fim, summarize
    from model.evaluation.infill import Fill
    from model.postprocess import postprocess
    from model.templates.fim import get_fim_template
    from server.protocol import CodefillOptions
    from server.serving_completions import postprocess_options

    if args.max_tokens is not None and args.max_tokens <= 0:
        raise ValueError("--max-tokens must be positive")
    if args.concurrency <= 0:
        raise ValueError("--concurrency must be positive")
    extra = extra_body(args.extra_body)
    variants = build_variants(args)
    cases, data = build_cases(args)
    if not cases:
        raise ValueError("no cases: no source file of the languages asked for offers one")

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        models: dict[str, str] = {}
        for v in variants:
            url = v.url or args.url
            if url not in models:
                models[url] = (model if url == args.url else
                               args.raw_model or await first_model(url, args.api_key, client=client))
        try:
            cards = await list_models(args.url, args.api_key, client=client)
        except Exception as exc:  # noqa: BLE001 - informational only
            cards = [{"error": str(exc)}]

        def filler(v: Variant):
            url = v.url or args.url
            if v.template is not None:
                template = get_fim_template(v.template)
                markers = template_markers(template)

                async def fill_raw(case: FimCase) -> Fill:
                    r = await complete_raw_fim(url, models[url], template.build(case.prefix, case.suffix).text,
                                               max_tokens_for(args, case.layout), api_key=args.api_key,
                                               extra={**(extra or {}), **(v.extra or {})} or None,
                                               client=client, timeout=args.request_timeout)
                    return Fill(text=cut_at_markers(r.text, markers), raw_text=r.text, latency_s=r.latency_s,
                                completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

                return fill_raw

            if v.offline:
                async def fill_offline(case: FimCase) -> Fill:
                    source = await off_fill(case)
                    if source.error is not None:
                        raise RuntimeError(f"postprocess-off failed: {source.error}")
                    # The options the server would read from this variant's request, by its own code.
                    options = postprocess_options(CodefillOptions(**request_codefill(v, case, args)))
                    text = postprocess(source.text, case.prefix, case.suffix, options)
                    return Fill(text=text, raw_text=source.text, finish_reason=source.finish_reason)

                return fill_offline

            async def fill_suffix(case: FimCase) -> Fill:
                codefill = request_codefill(v, case, args)
                r = await complete_fim(url, models[url], case.prefix, case.suffix, max_tokens_for(args, case.layout),
                                       api_key=args.api_key, codefill=codefill or None, extra=extra, client=client,
                                       timeout=args.request_timeout)
                return Fill(text=r.text, raw_text=r.text, latency_s=r.latency_s,
                            completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

            return fill_suffix

        fillers = {v.name: filler(v) for v in variants if not v.offline}
        if args.offline:
            fillers["postprocess-off"] = off_fill = _once_per_case(fillers["postprocess-off"])
            fillers.update({v.name: filler(v) for v in variants if v.offline})
        fillers = {v.name: fillers[v.name] for v in variants}
        bar = tqdm(total=len(cases), desc="fim", unit="case", file=sys.stderr, disable=args.quiet,
                   dynamic_ncols=True)

        def on_progress(p: FimProgress, record: FimRecord) -> None:
            bar.update(1)
            post = " ".join(f"{v.name} {p.exact_match_rate(v.name):.3f}" for v in variants)
            errors = sum(p.errors.values())
            bar.set_postfix_str(f"EM {post}" + (f" errors {errors}" if errors else ""), refresh=False)

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        try:
            records = await evaluate_fim(cases, fillers, concurrency=args.concurrency, progress=on_progress)
        finally:
            bar.close()
        wall = time.monotonic() - t0

    names = [v.name for v in variants]
    results = []
    for r in records:
        c = r.case
        results.append({"id": c.id, "language": c.language, "layout": c.layout, "package": c.package,
                        "path": c.path, "line": c.line, "middle": c.middle, "prefix_tail": c.prefix[-200:],
                        "suffix_head": c.suffix[:200], **{n: r.outcomes[n].to_dict() for n in names}})
    return {
        "benchmark": "fim",
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "server": {"url": args.url, "model": model, "models": cards},
        "variants": [{"name": v.name, "url": v.url or args.url, "model": models[v.url or args.url],
                      "request": v.request(args.multiline, args.send_language)} for v in variants],
        "settings": {
            "max_tokens": {layout: max_tokens_for(args, layout) for layout in args.layouts},
            "temperature": 0.0, "limit_per_language": args.limit, "seed": args.seed, "layouts": args.layouts,
            "languages": args.languages, "prefix_chars": args.prefix_chars, "suffix_chars": args.suffix_chars,
            "window_snap_lines": getattr(args, "window_snap_lines", None), "concurrency": args.concurrency,
            "multiline": args.multiline, "send_language": args.send_language,
            "extra_body": extra, "offline": args.offline,
        },
        "data": data,
        "cases": len(records),
        "wall_time_s": round(wall, 2),
        "summary": summarize(records, names),
        "results": results,
    }


def _once_per_case(fill: Any) -> Any:
    """The filler, asked once per case however many variants wait for its answer."""
    answers: dict[str, asyncio.Future[Any]] = {}

    async def shared(case: Any) -> Any:
        if case.id not in answers:
            answers[case.id] = asyncio.ensure_future(fill(case))
        return await asyncio.shield(answers[case.id])

    return shared


def request_codefill(v: Variant, case: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The `codefill` object of this variant's request for this case."""
    from model.evaluation.fim import grammar_for

    codefill = dict(v.codefill)
    if args.send_language == "on":
        codefill["language"] = grammar_for(case.language, case.path)
    if args.multiline == "hint":
        codefill["multiline"] = case.layout == "block"
    return codefill


# --- reports ---------------------------------------------------------------------------


def _rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(language, layout) rows present in the summary: each language's layouts and "all", then all languages."""
    from model.evaluation.fim import LANGUAGES, LAYOUTS

    table = next(iter(report["summary"].values()), {})
    languages = [x for x in LANGUAGES if x in table] + [x for x in table if x not in LANGUAGES and x != "all"]
    rows = []
    for language in [*languages, "all"]:
        layouts = table.get(language, {})
        rows += [(language, x) for x in LAYOUTS if x in layouts]
        if len([x for x in layouts if x != "all"]) > 1:
            rows.append((language, "all"))
    return rows


def metric_table(report: dict[str, Any], metric: str, spec: str = ".3f", line_only: bool = False) -> str:
    """One row per language and layout, one column per variant (`line_only`: the line layouts'
    rows, and "all" rows that count their line cases only)."""
    names = [v["name"] for v in report["variants"]]
    out = ["| language | layout | cases | " + " | ".join(names) + " |",
           "|---|---|---:|" + "---:|" * len(names)]
    for language, layout in _rows(report):
        if line_only and layout == "block":
            continue
        cells = [report["summary"][n].get(language, {}).get(layout, {}) for n in names]
        if line_only and all(c.get(metric) is None for c in cells):
            continue
        cases = cells[0].get("line_cases" if line_only else "cases", 0) if cells else 0
        out.append(f"| {language} | {layout} | {cases} | " + " | ".join(fmt(c.get(metric), spec) for c in cells) + " |")
    return "\n".join(out)


def summary_table(report: dict[str, Any]) -> str:
    names = [v["name"] for v in report["variants"]]
    return "\n".join([
        "exact match",
        "",
        metric_table(report, "exact_match"),
        "",
        "first-line exact match (Qwen's HumanEval-FIM rule; line layouts)",
        "",
        metric_table(report, "first_line_match", line_only=True),
        "",
        f"model: {report['server']['model']}  ·  variants: {', '.join(names)}  ·  cases: {report['cases']}  ·  "
        f"wall time: {report['wall_time_s']:.1f} s",
    ])


def floor_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows where `default` exact match is below a baseline's exact match or first-line match
    (postprocess-off and raw variants): the floor the default must never go under."""
    names = [v["name"] for v in report["variants"]]
    if "default" not in names:
        return []
    baselines = [n for n in names if n == "postprocess-off" or n.startswith("raw-")]
    rows = []
    for language, layout in _rows(report):
        d = report["summary"]["default"].get(language, {}).get(layout)
        if not d or d["exact_match"] is None:
            continue
        for b in baselines:
            s = report["summary"][b].get(language, {}).get(layout) or {}
            for metric in ("exact_match", "first_line_match"):
                ref = s.get(metric)
                # The first-line rule counts line cases only: so does the default's side of it.
                mine = d.get("line_exact_match", d["exact_match"]) if metric == "first_line_match" else d["exact_match"]
                if ref is not None and mine is not None and mine < ref - 1e-9:
                    rows.append({"language": language, "layout": layout, "default": mine,
                                 "baseline": b, "metric": metric, "value": ref})
    return rows


def lost_cases(report: dict[str, Any], limit: int = 40) -> list[dict[str, Any]]:
    """Cases the default got wrong that postprocess-off got right (exact, or by the first-line rule)."""
    names = [v["name"] for v in report["variants"]]
    if "default" not in names or "postprocess-off" not in names:
        return []
    out = []
    for r in report["results"]:
        d, off = r["default"], r["postprocess-off"]
        if not d["exact_match"] and (off["exact_match"] or off["first_line_match"]):
            out.append(r)
    return out[:limit] if limit else out


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    data = report["data"]
    lines = [
        f"# FIM benchmark — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']}",
        f"- cases: {report['cases']} ({st['limit_per_language']} per language over {', '.join(st['layouts'])}; "
        f"seed {st['seed']}); prefix {st['prefix_chars']} / suffix {st['suffix_chars']} characters",
        f"- greedy (temperature 0), max_tokens {json.dumps(st['max_tokens'])}, concurrency {st['concurrency']}",
        "- variants:",
        *[f"  - `{v['name']}` ({v['model']} at {v['url']}): `{json.dumps(v['request'], ensure_ascii=False)}`"
          for v in report["variants"]],
        "",
        *command_block(report["command"]),
        "",
    ]
    if data.get("source") == "pinned":
        lines += ["## Sources", "", "| language | package | version | registry | sha256 | files |",
                  "|---|---|---|---|---|---:|"]
        for p in data["packages"]:
            lines.append(f"| {p['language']} | {p['name']} | {p['version']} | {p['registry']} | "
                         f"`{p['sha256'][:16]}…` | {p['files']} |")
        lines.append("")
    else:
        lines += [f"Sources: {data.get('source')} `{data.get('path')}`", ""]
    sections = [
        ("Exact match", "exact_match", ".3f", False),
        ("First-line exact match (Qwen's HumanEval-FIM rule, line layouts)", "first_line_match", ".3f", True),
        ("Exact match on the line layouts (the cases of the first-line rule)", "line_exact_match", ".3f", True),
        ("Edit similarity", "edit_similarity", ".3f", False),
        ("Empty completions (rate)", "empty_rate", ".3f", False),
        ("Mean completion length (characters)", "mean_chars", ".1f", False),
        ("Mean completion tokens", "mean_completion_tokens", ".1f", False),
        ("Latency p50 (s)", "latency_p50_s", ".3f", False),
    ]
    for title, metric, spec, line_only in sections:
        lines += [f"## {title}", "", metric_table(report, metric, spec, line_only), ""]
    floor = floor_rows(report)
    if any(v["name"] == "default" for v in report["variants"]) and len(report["variants"]) > 1:
        lines += ["## Floor: default below a baseline", ""]
        if floor:
            lines += ["| language | layout | default EM (on the line cases, against first_line_match) | baseline "
                      "| its metric | value |",
                      "|---|---|---:|---|---|---:|"]
            lines += [f"| {r['language']} | {r['layout']} | {r['default']:.3f} | {r['baseline']} | {r['metric']} "
                      f"| {r['value']:.3f} |" for r in floor]
        else:
            lines.append("None: default is at or above every baseline's exact and first-line match on every row.")
        lines.append("")
    lost = lost_cases(report, limit=0)
    if lost:
        lines += [f"## Lost by default ({len(lost)}; postprocess-off right)", "",
                  "| case | middle | default | postprocess-off |", "|---|---|---|---|"]
        for r in lost[:60]:
            lines.append(f"| {md_cell(r['id'], 90)} | `{md_cell(r['middle'], 60)}` | "
                         f"`{md_cell(r['default']['completion'], 60)}` | "
                         f"`{md_cell(r['postprocess-off']['completion'], 60)}` |")
        lines.append("")
    return "\n".join(lines)


def fim_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out("eval-fim")
    report = run_and_report(args, "fim", run_eval, out, markdown_report, summary_table)
    failed = [v["name"] for v in report["variants"]
              if report["cases"] and report["summary"][v["name"]]["all"]["all"]["errors"] == report["cases"]]
    if failed:
        first = next(r[failed[0]]["error"] for r in report["results"] if r[failed[0]]["error"])
        print(f"codefill: error: every request of {', '.join(failed)} failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
