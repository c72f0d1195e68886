"""The work of `codefill data instruct` (`codefill.commands.data`): the run's settings from the command line,
the run, and the lines said at its end."""

from __future__ import annotations

import argparse
import shlex
import sys


def config_from_args(args: argparse.Namespace):
    from pathlib import Path

    from codefill.jobs.instruct_data.pipeline import InstructConfig

    if not Path(args.repo).expanduser().is_dir():
        raise ValueError(f"{args.repo} is not a folder; pass the repository to take seed functions from")
    if args.exec_timeout <= 0:
        raise ValueError("--exec-timeout must be positive")
    return InstructConfig(
        repo=str(Path(args.repo).expanduser().resolve()), url=args.url, out=str(Path(args.out).expanduser()),
        model=args.model, api_key=args.api_key, api=args.api, answers=args.answers, evolve=args.evolve,
        responses=args.responses,
        concurrency=args.concurrency, limit=args.limit, seed=args.seed, temperature=args.temperature,
        max_tokens=args.max_tokens, exec_timeout=args.exec_timeout, memory_mb=args.memory_mb,
        exec_workers=args.exec_workers, unsafe_no_sandbox=args.unsafe_no_sandbox,
        decontaminate=args.decontaminate, mbpp_path=args.mbpp_data, system=args.system,
        prune_tests=args.prune_tests, progress=not args.no_progress,
    )


def build_instruct_data(args: argparse.Namespace) -> str:
    """Run `codefill data instruct`; its summary and where the report went."""
    import logging

    from codefill.jobs.instruct_data.pipeline import run_instruct, summary
    from codefill.jobs.instruct_data.report import report_paths

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise; the bars say it
    config = config_from_args(args)
    command = "codefill " + " ".join(shlex.quote(a) for a in getattr(args, "argv", None) or sys.argv[1:])
    if config.api_key:
        command = command.replace(config.api_key, "***")
    report = run_instruct(config, command=command)
    return f"{summary(report)}\nreport: {report_paths(config.out)[1]}"

