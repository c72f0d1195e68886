"""The work of `codefill bench replay` (`codefill.commands.bench_replay`): the sessions and clients chosen,
the warm-up, every session typed by every client in turn, and `run_replay`, which returns the JSON report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLIENTS = ("codefill", "plain", "raw")


def _sessions(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    from codefill.jobs.bench.replay.histories import load_histories, pinned_sessions, select, sessions_from_json

    if args.sessions_file:
        sessions = sessions_from_json(Path(args.sessions_file))
        described = [f"{args.sessions_file} ({len(sessions)} sessions)"]
    else:
        sessions = pinned_sessions(Path(args.cache_dir) if args.cache_dir else None, packages=args.packages,
                                   max_chars=args.max_chars, min_chars=args.min_chars)
        described = [f"{h.registry}:{h.name} " + " -> ".join(r.version for r in h.releases)
                     for h in load_histories() if not args.packages or h.name in args.packages]
    picked = select(sessions, limit=args.limit, seed=args.seed, languages=args.languages)
    if not picked:
        raise ValueError("no edit sessions to replay (check --languages, --packages, --min-chars)")
    return picked, described


def _askers(args: argparse.Namespace, log_dir: Path) -> list[Any]:
    from codefill.jobs.bench.replay.askers import LspAsker, PlainAsker, RawAsker

    names = args.clients or (["codefill", "plain"] + (["raw"] if args.raw_url else []))
    bad = [n for n in names if n not in CLIENTS]
    if bad or not names:
        raise ValueError(f"--clients takes {', '.join(CLIENTS)}; got {', '.join(names) or 'none'}")
    if "raw" in names and not args.raw_url:
        raise ValueError("the raw client needs --raw-url")
    http = dict(max_tokens=args.max_tokens, timeout_s=args.request_timeout)
    askers: list[Any] = []
    for name in dict.fromkeys(names):
        if name == "codefill":
            lsp_args = ["--debounce-ms", str(args.debounce_ms), "--max-tokens", str(args.max_tokens),
                        "--log-level", "info", *args.lsp_arg]
            if args.model:
                lsp_args += ["--model", args.model]
            if args.api_key:
                lsp_args += ["--api-key", args.api_key]
            askers.append(LspAsker(args.url, args=lsp_args, log_file=str(log_dir / "codefill-lsp.log"),
                                   command=shlex.split(args.lsp_command) if args.lsp_command else None))
        elif name == "plain":
            askers.append(PlainAsker(args.url, model=args.model, api_key=args.api_key, **http))
        else:
            askers.append(RawAsker(args.raw_url, args.raw_fim_template, model=args.raw_model, api_key=None,
                                   extra=args.raw_extra_body, **http))
    return askers


class _Debounced:
    """A plain client waits out the same debounce before it sends, as an editor plugin
    with a timer does; keeps the latencies comparable with the language server's."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def ask(self, uri: str, version: int, document: str, cursor: int) -> Any:
        from codefill.jobs.bench.replay.askers import Asking

        async def later() -> Any:
            await asyncio.sleep(self.delay_s)
            inner = self.inner.ask(uri, version, document, cursor)
            try:
                return await inner.task
            finally:
                inner.task.cancel()  # cancelled while waiting: the stream closes

        task = asyncio.ensure_future(later())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return Asking(task)

    async def cancel(self, asking: Any) -> None:
        asking.task.cancel()


async def _warm_up(askers: list[Any], n: int, timeout: float, scratch: Path) -> None:
    """Unmeasured requests first: the first requests of an engine are slow, and the
    language server's first one loads its parsers."""
    from codefill.jobs.bench.replay.askers import LspAsker

    doc = "def add(a, b):\n    return \n"
    cursor = doc.index(" \n") + 1
    path = scratch / "warmup.py"
    path.write_text(doc, encoding="utf-8")
    uri = path.as_uri()
    for asker in askers:
        for _ in range(n):
            if isinstance(asker, LspAsker):
                await asker.open(uri, "python", doc)
            asking = asker.ask(uri, 1, doc, cursor)
            try:
                await asyncio.wait_for(asking.task, timeout)
            except Exception as exc:  # noqa: BLE001 - a server that cannot answer is not benched
                raise RuntimeError(f"warm-up request to {asker.name} ({asker.url}) failed: {exc!r}") from exc
            finally:
                if isinstance(asker, LspAsker):
                    await asker.close(uri)


def _uri_for(session: Any, scratch: Path, index: int, asker_name: str) -> tuple[str, Path, str | None]:
    """The document's file: in the package's tree when there is one (the language server
    finds its neighbours for context), with the session's starting text on disk, as if
    just saved; the newer file goes back after the session."""
    if session.workspace:
        path = Path(session.workspace) / session.path
        restore = path.read_text(encoding="utf-8") if path.exists() else None
    else:
        path = scratch / f"s{index}" / session.path
        restore = None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(session.document, encoding="utf-8")
    return path.as_uri(), path, restore


async def run_replay(args: argparse.Namespace, command: str) -> tuple[dict[str, Any], dict[str, list[float]]]:
    import httpx
    from tqdm import tqdm

    from codefill.jobs.bench.replay.askers import LspAsker, PlainAsker, RawAsker
    from codefill.jobs.bench.replay.report import client_figures
    from codefill.jobs.bench.replay.session import Options
    from codefill.jobs.bench.replay.typist import Rhythm
    from codefill.jobs.bench.workload import python_version

    if args.limit < 1 or args.debounce_ms < 0 or args.max_tokens < 1 or args.warmup < 0:
        raise ValueError("--limit and --max-tokens must be positive, --debounce-ms and --warmup not negative")
    sessions, described = _sessions(args)
    scratch = Path(tempfile.mkdtemp(prefix="codefill-replay-"))
    askers = _askers(args, scratch)
    options = Options(Rhythm(args.rhythm, args.typing_speed, args.seed), pause_s=args.debounce_ms / 1000,
                      accept=not args.no_accept, answer_timeout_s=args.request_timeout)
    workspaces = sorted({s.workspace for s in sessions if s.workspace}) + [str(scratch)]
    results: dict[str, list[Any]] = {a.name: [] for a in askers}
    started = _dt.datetime.now().astimezone()
    t0 = time.monotonic()
    async with httpx.AsyncClient() as metrics_http:
        try:
            for a in askers:
                await a.start(workspaces)
            await _warm_up(askers, args.warmup, args.request_timeout * 4, scratch)
            turns = [a if isinstance(a, LspAsker) else _Debounced(a, args.debounce_ms / 1000) for a in askers]
            bar = tqdm(total=len(sessions) * len(turns), desc="replay", unit="session", file=sys.stderr,
                       disable=args.quiet, dynamic_ncols=True)
            try:
                for i, session in enumerate(sessions):
                    order = turns if i % 2 == 0 else turns[::-1]
                    for asker in order:
                        bar.set_postfix_str(f"{asker.name}: {session.id}"[-60:], refresh=True)
                        result = await _turn(session, asker, i, scratch, options, metrics_http,
                                             _key_for(asker, args))
                        results[asker.name].append(result)
                        bar.update(1)
            finally:
                bar.close()
            messages = {a.name: a.client.messages[:20] for a in askers if isinstance(a, LspAsker) and a.client}
        finally:
            for a in askers:
                await a.stop()
    wall = time.monotonic() - t0

    def how(a: Any) -> str:
        if isinstance(a, LspAsker):
            return (f"`codefill lsp` over stdio against {a.url} (didChange per key, inlineCompletion at pauses, "
                    "$/cancelRequest for superseded requests)")
        if isinstance(a, RawAsker):
            return (f"last {2000} / next {500} characters in a client-built `{a.template.name}` FIM prompt to "
                    f"{a.url}/v1/completions (no `suffix`), cut at the template's end tokens")
        if isinstance(a, PlainAsker):
            return (f"last {2000} / next {500} characters as prompt + `suffix` to {a.url}/v1/completions; no "
                    "context, no cache; superseded requests closed")
        return a.name

    names = [a.name for a in askers]
    languages: dict[str, int] = {}
    for s in sessions:
        languages[s.language] = languages.get(s.language, 0) + 1
    report: dict[str, Any] = {
        "benchmark": "codefill-bench-replay",
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": python_version()},
        "client_names": names,
        "client_list": [{"name": a.name, "url": a.url, "how": how(a)} for a in askers],
        "settings": {"limit": args.limit, "seed": args.seed, "rhythm": args.rhythm,
                     "typing_speed": args.typing_speed, "debounce_ms": args.debounce_ms,
                     "max_tokens": args.max_tokens, "accept": not args.no_accept, "max_chars": args.max_chars,
                     "min_chars": args.min_chars, "languages": args.languages, "packages": args.packages},
        "histories": described,
        "languages": languages,
        "sessions": [{"id": s.id, "language": s.language, "typed_chars": len(s.text)} for s in sessions],
        "wall_time_s": round(wall, 1),
        "clients": {n: client_figures(results[n]) for n in names},
        "lsp_messages": messages,
        "results": {n: [r.as_dict() for r in results[n]] for n in names},
    }
    latencies = {n: [a.latency_s for r in results[n] for a in r.asks
                     if a.outcome == "shown" and a.latency_s is not None] for n in names}
    return report, latencies


async def _turn(session: Any, asker: Any, index: int, scratch: Path, options: Any, metrics_http: Any,
                key: str | None) -> Any:
    """One client types one session; what the server's and the language server's counters
    did meanwhile goes with the result."""
    from codefill.jobs.bench.scrape import delta, scrape
    from codefill.jobs.bench.replay.session import replay_session

    uri, path, restore = _uri_for(session, scratch, index, asker.name)
    counters = getattr(asker, "counters", None)
    sent_before = getattr(asker, "sent", None)
    try:
        lsp_before = await counters() if counters else None
        before = await scrape(metrics_http, asker.url, key)
        first = asyncio.create_task(_after_first_prompt(metrics_http, asker.url, key, before))
        try:
            result = await replay_session(session, asker, uri, options)
        finally:
            first.cancel()
        await asyncio.sleep(0.3)  # the last abort reaches the engine's counters
        end = await scrape(metrics_http, asker.url, key)
        result.engine = delta(before, end)
        if first.done() and not first.cancelled():
            result.engine_after_first = delta(first.result(), end)
        lsp_after = await counters() if counters else None
    finally:
        if restore is not None:
            path.write_text(restore, encoding="utf-8")
    if lsp_before is not None and lsp_after is not None:
        result.lsp = {k: v - lsp_before.get(k, 0) for k, v in lsp_after.items()
                      if isinstance(v, (int, float)) and isinstance(lsp_before.get(k, 0), (int, float))}
        result.sent = result.lsp.get("sent")
    elif sent_before is not None:
        result.sent = asker.sent - sent_before
    return result


async def _after_first_prompt(metrics_http: Any, url: str, key: str | None,
                              before: dict[str, float] | None) -> dict[str, float] | None:
    """The counters just after the engine took the session's first prompt: a file's first
    request finds nothing of it cached, the ones after it are what the prompt layout can reuse."""
    from codefill.jobs.bench.scrape import scrape

    if before is None:
        return None
    start = before.get("prefix_cache_queries", 0.0)
    while True:
        await asyncio.sleep(_FIRST_PROMPT_POLL_S)
        now = await scrape(metrics_http, url, key)
        if now is not None and now.get("prefix_cache_queries", 0.0) > start:
            return now


_FIRST_PROMPT_POLL_S = 0.05


def _key_for(asker: Any, args: argparse.Namespace) -> str | None:
    from codefill.jobs.bench.replay.askers import RawAsker

    inner = getattr(asker, "inner", asker)
    return None if isinstance(inner, RawAsker) else args.api_key
