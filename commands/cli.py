"""The `codefill` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from codefill.model.engines import ENGINE_KINDS
from codefill.model.templates.next_edit import NEXT_EDIT_FORMATS
from codefill.server import limits as _limits
from codefill.commands.options import non_negative, non_negative_float, positive, positive_float

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a code model over an OpenAI-compatible API (FIM and chat)",
        description="Serve a code model: /v1/completions (with `suffix` for fill-in-the-middle), "
        "/v1/chat/completions, /v1/models, /health, /metrics.",
    )
    p.add_argument("--model", default=None,
                   help="local HF folder, local .gguf file, or hub id; default: the embedded "
                        "Qwen2.5-Coder-0.5B-Instruct")
    p.add_argument("--served-model-name", default=None, help="name clients put in `model` (default: derived)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--engine", choices=ENGINE_KINDS, default="auto",
                   help="vllm, hf (transformers), or auto: vLLM when installed")
    p.add_argument("--fim-template", default=None,
                   help="FIM prompt family (qwen, starcoder, deepseek, codellama, codegemma, codestral); "
                        "default: detected from the tokenizer's special tokens")
    p.add_argument("--next-edit-format", choices=sorted(NEXT_EDIT_FORMATS), default=None,
                   help="prompt format of /v1/next_edit (codefill: ours; zeta: Zed's Zeta models); "
                        "default: zeta for a model whose name says Zeta, else codefill")
    p.add_argument("--fim-fallback", choices=("none", "instruct"), default="none",
                   help="for models without FIM tokens: answer `suffix` requests with a hole-filling chat "
                        "prompt (instruct) or refuse them with a 400 (none)")
    p.add_argument("--max-model-len", type=int, default=None, help="context length (default: the model's)")
    p.add_argument("--dtype", default="auto", help="weights dtype (auto, bfloat16, float16, float32)")
    p.add_argument("--default-temperature", type=float, default=0.0,
                   help="temperature when a request sets none (default 0: greedy, what editors expect)")
    p.add_argument("--fim-max-time-ms", type=non_negative, default=0,
                   help="time budget of a FIM request that sets no codefill.max_time_ms: at it, generation "
                        "ends with the whole lines written so far, finish_reason `time_limit` (default 0: "
                        "none; codefill lsp sends its own, from its timeoutMs)")
    p.add_argument("--api-key", action="append", default=None,
                   help="require `Authorization: Bearer KEY` on every endpoint but /health (repeatable; also "
                        "env CODEFILL_API_KEY, comma-separated, and --api-key-file)")
    p.add_argument("--api-key-file", action="append", default=None, metavar="FILE",
                   help="read API keys from FILE, one per line, # starts a comment (repeatable); keeps keys "
                        "out of the process list")
    limits = p.add_argument_group("limits (0 turns a limit off)")
    limits.add_argument("--max-body-bytes", type=non_negative, default=_limits.DEFAULT_MAX_BODY_BYTES,
                        help=f"largest request body; larger gets a 413 (default {_limits.DEFAULT_MAX_BODY_BYTES})")
    limits.add_argument("--max-request-chars", type=non_negative, default=_limits.DEFAULT_MAX_REQUEST_CHARS,
                        help="most characters of text per request (prompt, suffix, files, messages together), "
                             "checked before any tokenizing; more gets a 413 "
                             f"(default {_limits.DEFAULT_MAX_REQUEST_CHARS})")
    limits.add_argument("--max-queued-prompts", type=non_negative, default=_limits.DEFAULT_MAX_QUEUED_PROMPTS,
                        help="most requests waiting for a prompt-building (tokenizing) thread, in each of the two "
                             "lanes (requests up to 100k characters, larger ones); more get a 503 with Retry-After "
                             f"(default {_limits.DEFAULT_MAX_QUEUED_PROMPTS})")
    limits.add_argument("--max-prompt-tokens", type=non_negative, default=_limits.DEFAULT_MAX_PROMPT_TOKENS,
                        help="most prompt tokens per request; more gets a 400, except FIM prompts, which are "
                             "trimmed to it (default 0: the model's context window is the limit)")
    limits.add_argument("--max-tokens-limit", type=non_negative, default=_limits.DEFAULT_MAX_TOKENS_LIMIT,
                        help="largest max_tokens a request may ask for; more gets a 400 "
                             f"(default {_limits.DEFAULT_MAX_TOKENS_LIMIT})")
    limits.add_argument("--max-n", type=non_negative, default=_limits.DEFAULT_MAX_N,
                        help="most completions one request may ask for (n times the number of prompts); more "
                             f"gets a 400 (default {_limits.DEFAULT_MAX_N})")
    limits.add_argument("--max-concurrent-per-key", type=non_negative,
                        default=_limits.DEFAULT_MAX_CONCURRENT_PER_KEY,
                        help="completion requests one API key (or, without keys, one client address) may have "
                             "in flight; more get a 429 with Retry-After "
                             f"(default {_limits.DEFAULT_MAX_CONCURRENT_PER_KEY})")
    from codefill.server import connections as _conn

    limits.add_argument("--header-timeout", type=non_negative_float, default=_conn.DEFAULT_HEADER_TIMEOUT_S,
                        metavar="SECONDS",
                        help="a request's head (request line and headers) must arrive within this long; a slow or "
                             "stalled client gets a 408 and is disconnected "
                             f"(default {_conn.DEFAULT_HEADER_TIMEOUT_S:g})")
    limits.add_argument("--body-timeout", type=non_negative_float, default=_conn.DEFAULT_BODY_TIMEOUT_S,
                        metavar="SECONDS",
                        help="a request's whole body must arrive within this long after its head "
                             f"(default {_conn.DEFAULT_BODY_TIMEOUT_S:g})")
    limits.add_argument("--keep-alive-timeout", type=positive_float, default=_conn.DEFAULT_KEEP_ALIVE_S,
                        metavar="SECONDS",
                        help="an idle keep-alive connection is closed after this long "
                             f"(default {_conn.DEFAULT_KEEP_ALIVE_S:g}; longer than clients keep them)")
    limits.add_argument("--max-connections-per-client", type=non_negative,
                        default=_conn.DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
                        help="open connections one client address may have; more are answered 429 and closed "
                             f"(default {_conn.DEFAULT_MAX_CONNECTIONS_PER_CLIENT}; behind a proxy, raise it or use 0)")
    p.add_argument("--restart-on-failure", action="store_true",
                   help="if the engine dies (e.g. the vLLM engine process), start a new one in the background "
                        "with backoff; /health says `restarting` meanwhile (default: stay unhealthy)")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vLLM tensor parallelism (GPUs)")
    p.add_argument("--gpu-memory-utilization", type=float, default=None, help="vLLM GPU memory share")
    p.add_argument("--max-num-seqs", type=int, default=None, help="vLLM: most sequences in one batch")
    p.add_argument("--priorities", choices=("on", "off"), default="on",
                   help="on: when the engine is full, editor FIM requests go first, then chat, then batch work "
                        "(`priority` field, vLLM's convention: lower first; vLLM's priority scheduling); off: "
                        "arrival order (default on)")
    p.add_argument("--max-running", type=positive, default=None, metavar="N",
                   help="engine requests running at once; more wait in priority order (default: vLLM's "
                        "--max-num-seqs; no bound on --engine hf); lower keeps the batch small and leaves more "
                        "of the order to priorities")
    _add_vllm_options(p)
    p.add_argument("--lora", action="append", default=None, metavar="NAME=DIR",
                   help="serve a LoRA adapter (a `codefill train` output or any peft LoRA folder) beside the "
                        "base model; clients pick it with `model: NAME` (repeatable)")
    p.add_argument("--max-lora-rank", type=int, default=None,
                   help="vLLM: largest adapter rank to make room for (default: the smallest that fits the adapters)")
    p.add_argument("--max-loras", type=int, default=None,
                   help="vLLM: adapters used in one batch (default: all of them)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_serve)


def _add_vllm_options(p: argparse.ArgumentParser) -> None:
    from codefill.model.engines import speculative as spec

    g = p.add_argument_group("vLLM: speculative decoding and scale-out")
    g.add_argument("--speculative", choices=spec.METHODS, default=spec.DEFAULT_METHOD,
                   help="draft tokens for the model to check: ngram (prompt lookup: copies from the prompt), "
                        "long-ngram (prompt lookup that drafts --long-match-tokens after a long match), "
                        "suffix (Arctic Inference), draft-model (--draft-model), or off; greedy output is the "
                        f"same either way (default {spec.DEFAULT_METHOD})")
    g.add_argument("--speculative-tokens", type=int, default=spec.DEFAULT_TOKENS, metavar="N",
                   help=f"tokens drafted per step (default {spec.DEFAULT_TOKENS})")
    g.add_argument("--prompt-lookup-min", type=int, default=spec.DEFAULT_LOOKUP_MIN, metavar="N",
                   help=f"ngram: shortest n-gram matched in the prompt (default {spec.DEFAULT_LOOKUP_MIN})")
    g.add_argument("--prompt-lookup-max", type=int, default=spec.DEFAULT_LOOKUP_MAX, metavar="N",
                   help=f"ngram: longest n-gram matched in the prompt (default {spec.DEFAULT_LOOKUP_MAX})")
    g.add_argument("--long-match-tokens", type=int, default=spec.DEFAULT_LONG_TOKENS, metavar="N",
                   help="long-ngram: tokens drafted after a match of 8 or more tokens "
                        f"(default {spec.DEFAULT_LONG_TOKENS})")
    g.add_argument("--draft-model", default=None, metavar="PATH",
                   help="draft-model: a small model with the served model's tokenizer")
    g.add_argument("--pipeline-parallel-size", type=int, default=None, help="vLLM pipeline parallelism (nodes)")
    g.add_argument("--data-parallel-size", type=int, default=None, help="vLLM data parallelism (replicas)")
    g.add_argument("--distributed-executor-backend", choices=("mp", "ray", "uni", "external_launcher"),
                   default=None, help="vLLM: how workers run (ray for a Ray cluster across machines)")
    g.add_argument("--engine-arg", action="append", default=None, metavar="KEY=VALUE",
                   help="any vLLM engine argument (AsyncEngineArgs field, e.g. kv_cache_dtype=fp8 or "
                        "'compilation_config={\"level\": 3}'); VALUE is read as JSON when it parses, else as "
                        "text; repeatable, applied after everything else")
    g.add_argument("--engine-args-file", default=None, metavar="FILE",
                   help="vLLM engine arguments from a YAML or JSON mapping (before --engine-arg)")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="download, verify and convert a model into the cache, then exit")
    p.add_argument("--model", default=None, help="as for `serve` (default: the embedded model)")
    p.add_argument("--tiny", action="store_true", help="also build the tiny random test model")
    p.set_defaults(func=_prepare)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from codefill.commands.eval import add_eval_parser  # the command lives there; this only registers it

    add_eval_parser(sub)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from codefill.commands.bench import add_bench_parser

    add_bench_parser(sub)


def _add_train(sub: argparse._SubParsersAction) -> None:
    from codefill.commands.train import add_train_parser

    add_train_parser(sub)


def _add_data(sub: argparse._SubParsersAction) -> None:
    from codefill.commands.data import add_data_parser

    add_data_parser(sub)


def _add_lsp(sub: argparse._SubParsersAction) -> None:
    # the language server never imports server code; it is only registered here
    from codefill.commands.lsp import add_lsp_parser

    add_lsp_parser(sub)


def _serve(args: argparse.Namespace) -> int:
    from codefill.server.startup import serve

    return serve(args)


def _prepare(args: argparse.Namespace) -> int:
    from codefill.model.weights.prepare import prepare

    prepare(args.model, tiny=args.tiny)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codefill", description="Self-hosted code completion server.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_prepare(sub)
    _add_eval(sub)
    _add_bench(sub)
    _add_lsp(sub)
    _add_train(sub)
    _add_data(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    from codefill.server.auth import redact_argv

    args.argv = redact_argv(argv)  # the command line, for reports; never with a key in it
    level = getattr(args, "log_level", "info").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a CLI prints one clear line, not a traceback
        if os.environ.get("CODEFILL_DEBUG"):
            raise
        print(f"codefill: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
