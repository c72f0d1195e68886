"""The work of `codefill eval fim` (`codefill.commands.eval_fim`): the cases it runs, the variants it compares,
and `run_eval`, which sends every case to every variant and returns the JSON report.

Apart from the command so that it stays argparse and a call; apart from the reports
(`codefill.jobs.evaluation.fim_report`) because those read a finished report and send nothing.
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

from codefill.jobs.options import extra_body
from codefill.client.raw_fim import cut_at_markers, template_markers

DEFAULT_MAX_TOKENS = {"line": 64, "block": 256}


# --- cases -----------------------------------------------------------------------------


def _check_names(given: list[str] | None, known: tuple[str, ...], what: str) -> None:
    for x in given or ():
        if x not in known:
            raise ValueError(f"unknown {what} {x!r}; known: {', '.join(known)}")


def load_files(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """The source files and a description of where they come from (for the report)."""
    from tqdm import tqdm

    from codefill.jobs.evaluation import fim, fim_sources

    _check_names(args.languages, fim_sources.LANGUAGES, "language")
    _check_names(args.layouts, fim.LAYOUTS, "layout")
    if args.sources:
        files = fim_sources.sources_from_dir(Path(args.sources))
        if args.languages:
            files = [f for f in files if f.language in args.languages]
        return files, {"source": "folder", "path": str(Path(args.sources).resolve()), "files": len(files)}
    pins = [p for p in fim_sources.load_pins() if not args.languages or p.language in args.languages]
    data_dir = Path(args.data_dir) if args.data_dir else fim_sources.default_data_dir()
    bar = tqdm(total=len(pins), desc="fim sources", unit="package", file=sys.stderr, disable=args.quiet,
               dynamic_ncols=True)
    counts: dict[tuple[str, str], int] = {}

    def done(pin: Any, n: int) -> None:
        counts[(pin.language, pin.package)] = n
        bar.set_postfix_str(f"{pin.package} {pin.artifact.version}", refresh=False)
        bar.update(1)

    try:
        files = fim_sources.prepare_sources(pins, data_dir, progress=done)
    finally:
        bar.close()
    packages = [{**p.to_dict(), "files": counts.get((p.language, p.package), 0)} for p in pins]
    return files, {"source": "pinned", "data_dir": str(data_dir), "packages": packages}


def build_cases(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    from codefill.jobs.evaluation import fim

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
    window would start (codefill.lsp.context.windows.snapped_start), which is what the snap costs in context."""
    n = getattr(args, "window_snap_lines", None)
    if n is None:
        return cases
    if n <= 0:
        raise ValueError("--window-snap-lines must be positive")
    import dataclasses

    from codefill.lsp.context.windows import snapped_start

    out = []
    for c in cases:
        # The cursor's line, 0-based: the middle's line, or the one above where the middle starts
        # with its newline (see codefill.jobs.evaluation.fim.split_at).
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
    """`codefill.model.postprocess.RULES`, read when asked for (the per-rule switches)."""
    try:
        from codefill.model.postprocess import RULES  # type: ignore[attr-defined]
    except ImportError:
        raise ValueError("--ablate needs codefill.model.postprocess.RULES (the names of the post-processing rules that "
                         "\"codefill\": {\"rules\": {...}} switches), and this codefill has none yet") from None
    return [str(getattr(r, "name", r)) for r in RULES]


def build_variants(args: argparse.Namespace) -> list[Variant]:
    from codefill.model.templates.fim import get_fim_template

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
            from codefill.client.completions import QWEN_FIM_STOP_TOKEN_IDS, RAW_NEUTRAL_SAMPLING

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

    from codefill.client.completions import complete_fim, complete_raw_fim, first_model, list_models
    from codefill.jobs.evaluation.fim import FimCase
    from codefill.jobs.evaluation.fim_scores import FimProgress, FimRecord, evaluate_fim, summarize
    from codefill.jobs.evaluation.infill import Fill
    from codefill.model.postprocess import postprocess
    from codefill.model.templates.fim import get_fim_template
    from codefill.server.protocol import CodefillOptions
    from codefill.server.serving_completions import postprocess_options

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
    from codefill.jobs.evaluation.fim_sources import grammar_for

    codefill = dict(v.codefill)
    if args.send_language == "on":
        codefill["language"] = grammar_for(case.language, case.path)
    if args.multiline == "hint":
        codefill["multiline"] = case.layout == "block"
    return codefill
