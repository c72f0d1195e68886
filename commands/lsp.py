"""`codefill lsp`: the language server over stdio (or TCP, for debugging)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from codefill.lsp.settings import Settings


def add_lsp_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    defaults = Settings()
    p = sub.add_parser(
        "lsp",
        help="language server for editors: inline completions from a codefill (or OpenAI-compatible) server",
        description="A language server (stdio) that completes code at the cursor with a fill-in-the-middle "
        "model behind an OpenAI-compatible /v1/completions endpoint. Editors may override every option "
        "with initializationOptions or the \"codefill\" settings section (camelCase: maxTokens, ...).",
    )
    p.add_argument("--url", default=None, help=f"the completion server (default {defaults.url})")
    p.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY` (env CODEFILL_API_KEY)")
    p.add_argument("--model", default=None, help="model name to ask for (default: the first the server lists)")
    p.add_argument("--max-tokens", type=int, default=None, help=f"per completion (default {defaults.max_tokens})")
    p.add_argument("--temperature", type=float, default=None, help=f"(default {defaults.temperature}: greedy)")
    p.add_argument("--debounce-ms", type=int, default=None,
                   help=f"wait after a keystroke before asking (default {defaults.debounce_ms})")
    p.add_argument("--context-tokens", type=int, default=None,
                   help=f"budget of the prefix/suffix window (default {defaults.context_tokens})")
    p.add_argument("--crossfile-tokens", type=int, default=None,
                   help=f"budget of definitions from other files (default {defaults.crossfile_tokens})")
    p.add_argument("--window-snap-lines", type=int, default=None,
                   help="start the window on a multiple of this many lines, so prompts share their beginning "
                        f"while typing and the server's prefix cache is reused (1: off; default "
                        f"{defaults.window_snap_lines})")
    p.add_argument("--suffix-percent", type=int, default=None,
                   help="share of the window's budget for the code after the cursor, which is computed "
                        f"again at every keystroke (default {defaults.suffix_percent})")
    p.add_argument("--max-right-chars", type=int, default=None,
                   help="skip automatic requests when more code characters than this (closing brackets, "
                        f"quotes and separators aside) follow the cursor (default {defaults.max_right_chars})")
    p.add_argument("--timeout-ms", type=int, default=None,
                   help=f"give up on a completion after this long (default {defaults.timeout_ms})")
    p.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="for servers without `suffix` (e.g. vLLM's own): build the FIM prompt here with this "
                        "template (qwen, starcoder, deepseek, codellama, codegemma, codestral)")
    p.add_argument("--data-dir", default=None,
                   help=f"where telemetry.jsonl goes (default {defaults.data_dir})")
    p.add_argument("--no-telemetry", action="store_true", help="do not record accepted/dismissed completions")
    p.add_argument("--tcp", default=None, metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    p.add_argument("--log-file", default=None,
                   help="also write the whole log here (the editor gets it as window/logMessage once connected; "
                        "stderr only what cannot go there)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The command-line layer of the settings; refuses bad values before the editor connects."""
    given = {
        name: getattr(args, name)
        for name in ("url", "api_key", "model", "max_tokens", "temperature", "debounce_ms", "context_tokens",
                     "crossfile_tokens", "window_snap_lines", "suffix_percent", "max_right_chars", "timeout_ms",
                     "raw_fim_template", "data_dir")
        if getattr(args, name, None) is not None
    }
    if "api_key" not in given and os.environ.get("CODEFILL_API_KEY"):
        # The server accepts a comma-separated list; a client sends one key.
        given["api_key"] = os.environ["CODEFILL_API_KEY"].split(",")[0].strip()
    if getattr(args, "no_telemetry", False):
        given["telemetry"] = False
    settings, problems = Settings().merged(given)
    if problems:
        raise ValueError("; ".join(problems))
    return settings


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from codefill.lsp.startup import start

    return start(settings, tcp=args.tcp, log_file=args.log_file)


def main(argv: list[str] | None = None) -> int:
    """`python -m codefill.commands.lsp`, the same as `codefill lsp`."""
    parser = argparse.ArgumentParser(prog="codefill")
    sub = parser.add_subparsers(dest="command", required=True)
    add_lsp_parser(sub)
    args = parser.parse_args(["lsp", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
