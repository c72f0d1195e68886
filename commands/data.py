"""`codefill data instruct REPO --url URL --out FILE`: an instruction dataset from a repository.

The served model writes it (Self-OSS-Instruct, optionally Evol-Instruct rounds)
and checks it (each response's own tests, run in a sandbox). See
jobs/instruct_data/ for the steps.
"""

from __future__ import annotations

import argparse

from codefill.commands.options import non_negative, positive

EPILOG = """\
examples:
  codefill serve --model Qwen/Qwen2.5-Coder-7B &        # the model that will be tuned
  codefill data instruct ./my-repo --url http://localhost:8000 --out data/my-repo-instruct.jsonl
  codefill data instruct ./my-repo --url http://localhost:8000 --out data/my-repo-instruct.jsonl --evolve 2

  # the same command again continues where an interrupted run stopped; a larger --limit only adds seeds

files written beside --out (for data/my-repo-instruct.jsonl):
  data/my-repo-instruct.report.json, .report.md   counts of every step, pass rates
  data/my-repo-instruct.work/                      answers and test runs cached for reruns
"""


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data",
        help="build training data from a repository (instruct: instructions and tested responses)",
        description="Build training data from a repository.",
    )
    kinds = data.add_subparsers(dest="data_command", required=True, metavar="KIND")
    p = kinds.add_parser(
        "instruct",
        help="instruction/response pairs written and self-validated by the served model",
        description="Self-OSS-Instruct on your own code: seed functions with docstrings from REPO (filtered, "
                    "deduplicated, decontaminated against HumanEval/MBPP); the served model names each seed's "
                    "concepts and writes an instruction, optionally evolves it (Evol-Instruct), then writes "
                    "responses with tests; the tests run in a sandbox and one passing response per instruction "
                    "is kept. Output: JSON Lines of chat messages.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repo", help="the repository whose functions seed the data (.gitignore is honoured)")
    p.add_argument("--url", required=True, help="OpenAI-compatible server, e.g. http://localhost:8000")
    p.add_argument("--out", required=True, help="the dataset to write (JSON Lines)")
    p.add_argument("--model", default=None, help="model name at the server (default: the first it lists)")
    p.add_argument("--api-key", default=None, help="Bearer key for the server")
    p.add_argument("--api", choices=("completions", "chat"), default="completions",
                   help="few-shot prompts as one text to /v1/completions (default; as StarCoder2-Instruct did "
                        "with its base model) or as chat turns to /v1/chat/completions")

    p.add_argument("--answers", choices=("oss-instruct", "own"), default="oss-instruct",
                   help="how responses are asked for: 'oss-instruct' (default), the few-shot prompt of "
                        "StarCoder2-Instruct, each answer with reasoning, code, explanation and its own tests; "
                        "'own', the instruction alone as a chat message, answered in the model's own voice "
                        "(what it says to users), with tests asked for apart from the instruction and left "
                        "out of the dataset (for chat models: the adapter learns from its own right answers)")

    g = p.add_argument_group("generation")
    g.add_argument("--evolve", type=non_negative, default=0, metavar="N",
                   help="Evol-Instruct rounds (default 0)")
    g.add_argument("--responses", type=positive, default=5, metavar="K",
                   help="responses (each with tests) per instruction (default 5)")
    g.add_argument("--concurrency", type=positive, default=8, metavar="C", help="requests in flight (default 8)")
    g.add_argument("--limit", type=non_negative, default=None, metavar="N",
                   help="use at most N seeds (drawn with --seed; a larger N later adds to them)")
    g.add_argument("--seed", type=int, default=0, help="seed of the choices and of the requests (default 0)")
    g.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    g.add_argument("--max-tokens", type=positive, default=1024, metavar="N",
                   help="most tokens per answer (default 1024)")
    g.add_argument("--system", default=None, help="a system message to put first in every example (default none)")

    g = p.add_argument_group("sandbox (the responses' tests)")
    g.add_argument("--exec-timeout", type=float, default=10.0, metavar="S",
                   help="wall-clock seconds per test run (default 10)")
    g.add_argument("--memory-mb", type=positive, default=1024, metavar="M",
                   help="address-space limit per test run in MiB (default 1024)")
    g.add_argument("--exec-workers", type=positive, default=None, metavar="N",
                   help="test runs at a time (default: the CPU count)")
    g.add_argument("--prune-tests", action="store_true",
                   help="keep a failed answer when at least 2 of its checks pass, with the failing checks "
                        "dropped from its tests (for small teachers that write sound code and wrong asserts; "
                        "counted as 'pruned', apart from the strict pass rate). Default: only answers that "
                        "pass all their tests")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run the responses' tests WITHOUT the bubblewrap sandbox (they can then read and write "
                        "your files, use the network and start processes; a loud warning is printed). Default: "
                        "the sandbox, and a refusal that says how to install bubblewrap where it is missing")

    g = p.add_argument_group("data")
    g.add_argument("--no-decontaminate", dest="decontaminate", action="store_false",
                   help="keep seeds and examples that contain HumanEval/MBPP problems")
    g.add_argument("--mbpp-data", default=None, metavar="PATH",
                   help="MBPP's mbpp.jsonl for decontamination (default: $CODEFILL_MBPP_FILE or ../shared/data/mbpp)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_data_instruct)


def run_data_instruct(args: argparse.Namespace) -> int:
    from codefill.jobs.instruct_data.data_run import build_instruct_data

    print(build_instruct_data(args))
    return 0
