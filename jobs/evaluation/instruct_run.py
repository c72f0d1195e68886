"""The work of `codefill eval humaneval` and `codefill eval mbpp` (`codefill.commands.eval_instruct`): the
sampling settings, the tasks, and `run_instruct_eval`, which asks for every sample, runs its tests and returns
the JSON report."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from typing import Any

from codefill.jobs.options import extra_body

DEFAULT_MAX_TOKENS = 768  # EvalPlus's default; instruct replies carry prose around the code
DEFAULT_KS = (1, 10)
SAMPLING_TEMPERATURE = 0.8  # with --samples > 1 (the Codex paper's best for pass@10 is 0.8)
SAMPLING_TOP_P = 0.95


# --- settings ------------------------------------------------------------------


def parse_ks(text: str | None, samples: int) -> list[int]:
    """`--k` as a sorted list; by default 1 and 10, keeping those <= `samples`."""
    if text is None:
        return [k for k in DEFAULT_KS if k <= samples]
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--k must list integers >= 1, got {text!r}")
    if ks[-1] > samples:
        raise ValueError(f"pass@{ks[-1]} needs at least {ks[-1]} samples per problem (--samples {samples})")
    return ks


def sampling(args: argparse.Namespace) -> tuple[float, float | None]:
    """(temperature, top_p or None) from the options and the number of samples."""
    greedy_default = args.samples == 1
    temperature = args.temperature if args.temperature is not None else (
        0.0 if greedy_default else SAMPLING_TEMPERATURE)
    top_p = args.top_p if args.top_p is not None else (None if temperature == 0 else SAMPLING_TOP_P)
    return temperature, top_p


def _validate(args: argparse.Namespace) -> None:
    for name in ("samples", "max_tokens", "concurrency", "exec_workers"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")
    if args.temperature is not None and args.temperature < 0:
        raise ValueError("--temperature must not be negative")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError("--top-p must be in (0, 1]")


def load_tasks(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """All tasks of the benchmark, and where they came from (for the report)."""
    from codefill.jobs.evaluation import humaneval, mbpp
    from codefill.jobs.evaluation.instruct import humaneval_task, mbpp_task

    if args.benchmark == "humaneval":
        path = humaneval.data_path()
        tasks = [humaneval_task(p) for p in humaneval.load_problems(path)]
        return tasks, {"file": str(path), "prompt": "EvalPlus instruct prompt"}
    path = mbpp.data_path(args.data)
    first, last = mbpp.SPLITS["test"]
    tasks = [mbpp_task(p) for p in mbpp.load_problems(path, split="test")]
    return tasks, {"file": str(path), "split": f"test (task_ids {first}-{last})",
                   "tests": "test_setup_code + test_list (challenge_test_list not run)",
                   "prompt": "Austin et al. 2021 (problem text + test asserts)"}


# --- the run -------------------------------------------------------------------


async def run_instruct_eval(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the evaluation; return the JSON-able report."""
    import httpx
    from tqdm import tqdm

    from codefill.client.completions import chat_complete, first_model, list_models
    from codefill.jobs.evaluation.infill_cases import select_cases
    from codefill.jobs.evaluation.instruct import (
        InstructTask,
        Progress,
        Reply,
        Sample,
        evaluate_instruct,
        summarize,
    )
    from codefill.jobs.evaluation.instruct_prompts import user_messages
    from codefill.jobs.sandbox import get_sandbox

    _validate(args)
    # The sandbox first: without one, nothing is asked of the server.
    sandbox = get_sandbox(unsafe_no_sandbox=getattr(args, "unsafe_no_sandbox", False))
    ks = parse_ks(args.k, args.samples)
    temperature, top_p = sampling(args)
    extra = extra_body(args.extra_body)
    all_tasks, data = load_tasks(args)
    tasks = select_cases(all_tasks, args.limit, args.seed)

    request: dict[str, Any] = {"endpoint": "/v1/chat/completions", "messages": "one user message",
                               "prompt_example": tasks[0].prompt if tasks else None}
    if extra:
        request["extra_body"] = extra

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        try:
            cards = await list_models(args.url, args.api_key, client=client)
        except Exception as exc:  # noqa: BLE001 - informational only
            cards = [{"error": str(exc)}]

        async def answer(task: InstructTask, index: int) -> Reply:
            r = await chat_complete(args.url, model, user_messages(task.prompt), args.max_tokens,
                                    api_key=args.api_key, temperature=temperature, top_p=top_p, extra=extra,
                                    client=client, timeout=args.request_timeout)
            return Reply(text=r.text, latency_s=r.latency_s, prompt_tokens=r.prompt_tokens,
                         completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        bar = tqdm(total=len(tasks) * args.samples, desc=args.benchmark, unit="sample", file=sys.stderr,
                   disable=args.quiet, dynamic_ncols=True)

        def on_progress(p: Progress, sample: Sample) -> None:
            bar.update(1)
            post = f"pass@1 {p.pass_at_1:.3f}"
            if p.errors:
                post += f" errors {p.errors}"
            bar.set_postfix_str(post, refresh=False)

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        try:
            records = await evaluate_instruct(
                tasks, answer, samples=args.samples, concurrency=args.concurrency,
                exec_timeout_s=args.exec_timeout, exec_workers=args.exec_workers, progress=on_progress,
                sandbox=sandbox,
            )
        finally:
            bar.close()
        wall = time.monotonic() - t0

    summary = summarize(records, ks, args.samples)
    return {
        "benchmark": args.benchmark,
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "server": {"url": args.url, "model": model, "models": cards, "request": request},
        "data": data,
        "settings": {
            "samples": args.samples, "k": ks, "temperature": temperature, "top_p": top_p,
            "max_tokens": args.max_tokens, "limit": args.limit, "seed": args.seed,
            "concurrency": args.concurrency, "exec_timeout_s": args.exec_timeout,
            "exec_workers": args.exec_workers, "request_timeout_s": args.request_timeout,
            "sandbox": sandbox.describe(),
        },
        "problems": len(records),
        "problems_total": len(all_tasks),
        "wall_time_s": round(wall, 2),
        "summary": vars(summary),
        "results": [r.to_dict(ks) for r in records],
    }
