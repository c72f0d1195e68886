"""`codefill data instruct`: a repository -> a validated instruction dataset, through the served model.

    seeds (tree-sitter, filtered, deduplicated, decontaminated)
      -> (concepts, instruction) per seed          few-shot, /v1/completions or /v1/chat/completions
      -> one instruction per task                  same function name or near-duplicate text dropped
      -> Evol-Instruct rounds (optional)           depth/breadth methods, elimination rules
      -> k responses with tests per instruction    (answers that stop before their tests: asked for them)
                                                   (--answers own: the instruction alone as a chat message,
                                                   and tests asked for apart, from the instruction)
      -> sandboxed self-validation                 one passing response kept per instruction
                                                   (--prune-tests: or one passing once its wrong checks go)
      -> decontaminated JSONL of chat messages + report (JSON, Markdown)

Everything the model answered is cached in `NAME.work/` beside the output
(`responses.jsonl`, keyed by the exact request), and so is every test run
(`executions.jsonl`): running the same command again sends only the requests
that are missing (after a crash, a kill, or with a larger `--limit`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from codefill.jobs.instruct_data import own_answers
from codefill.jobs.instruct_data.dataset import DatasetStats, build_examples, decontaminate_examples, write_jsonl
from codefill.jobs.instruct_data.distinct_tasks import distinct_instructions
from codefill.jobs.instruct_data.evolve import Instruction, evolve
from codefill.jobs.instruct_data.generate import (
    Api,
    GenRequest,
    ModelClient,
    ResponseStore,
    generate_all,
    new_request_count,
)
from codefill.jobs.instruct_data.prompts import (
    FewShotPrompt,
    instruction_prompt,
    parse_instruction,
    response_prompt,
    tests_prompt,
    with_tests,
)
from codefill.jobs.instruct_data.report import InstructReport, work_dir
from codefill.jobs.instruct_data.responses import wants_tests
from codefill.jobs.instruct_data.sandbox import SandboxLimits
from codefill.jobs.instruct_data.seeds import extract_seeds, limit_seeds
from codefill.jobs.instruct_data.validate import Candidate, ExecutionStore, validate
from codefill.jobs.sandbox import Sandbox, get_sandbox

log = logging.getLogger("codefill.instruct")


@dataclass(frozen=True)
class InstructConfig:
    repo: str
    url: str
    out: str
    model: str | None = None  # default: the first model the server lists
    api_key: str | None = None
    api: Api = "completions"
    answers: str = "oss-instruct"  # or "own": see codefill.jobs.instruct_data.own_answers
    evolve: int = 0
    responses: int = 5
    concurrency: int = 8
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 1024
    exec_timeout: float = 10.0
    memory_mb: int = 1024
    exec_workers: int | None = None
    unsafe_no_sandbox: bool = False  # run the tests without the bubblewrap sandbox (--unsafe-no-sandbox)
    decontaminate: bool = True
    mbpp_path: str | None = None
    system: str | None = None  # a system message for every example (none by default)
    prune_tests: bool = False  # keep answers that pass once their failing checks are dropped
    progress: bool = True
    request_timeout_s: float = 600.0

    def settings(self) -> dict[str, Any]:
        hidden = {"api_key", "progress", "repo", "url", "out"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}


def _default_decontaminator(config: InstructConfig):
    if not config.decontaminate:
        return None
    from codefill.jobs.training.decontaminate import Decontaminator, benchmark_problems

    return Decontaminator(benchmark_problems(mbpp_path=config.mbpp_path))


def _resolve_model(config: InstructConfig, transport) -> str:
    if config.model:
        return config.model
    import asyncio

    import httpx
    from codefill.client.completions import first_model

    async def ask() -> str:
        async with httpx.AsyncClient(transport=transport, timeout=60) as c:
            return await first_model(config.url, config.api_key, client=c)

    return asyncio.run(ask())


def run_instruct(
    config: InstructConfig,
    *,
    decontaminator: Any | None | Callable[[], Any] = _default_decontaminator,
    sandbox: Sandbox | None = None,
    transport=None,
    command: str = "",
) -> InstructReport:
    """The whole pipeline; returns the report (also written beside `config.out`).

    `decontaminator`: a `Decontaminator`, None (no decontamination), or the
    default (HumanEval + MBPP, unless `config.decontaminate` is False).
    """
    report = InstructReport(command=command, settings=config.settings(), output=str(Path(config.out)))
    timer = time.monotonic()

    def lap(name: str) -> None:
        nonlocal timer
        now = time.monotonic()
        report.durations_s[name] = round(now - timer, 3)
        timer = now

    # The sandbox first: without it nothing is asked of the model (unless --unsafe-no-sandbox).
    if sandbox is None:
        sandbox = get_sandbox(unsafe_no_sandbox=config.unsafe_no_sandbox)
    limits = SandboxLimits(timeout_s=config.exec_timeout, memory_mb=config.memory_mb)
    report.sandbox = {**sandbox.describe(), "limits": limits.to_dict()}

    if callable(decontaminator) and not hasattr(decontaminator, "filter"):
        decontaminator = decontaminator(config)
    seeds_report = extract_seeds(config.repo, decontaminator=decontaminator, progress=config.progress)
    seeds = limit_seeds(seeds_report.seeds, config.limit, config.seed)
    report.seeds = seeds_report.to_dict()
    report.seeds["selected"] = len(seeds)
    lap("seeds")
    work = work_dir(config.out)
    work.mkdir(parents=True, exist_ok=True)
    write_jsonl(work / "seeds.jsonl", (s.to_dict() for s in seeds))
    write_jsonl(work / "dropped-seeds.jsonl", seeds_report.dropped)
    if not seeds:
        log.warning("no seed functions in %s: nothing to generate", config.repo)

    model = _resolve_model(config, transport)
    report.settings["model"] = model
    client = ModelClient(config.url, model, api=config.api, api_key=config.api_key,
                         timeout_s=config.request_timeout_s, transport=transport)
    store = ResponseStore(work / "responses.jsonl")
    sent = cached = 0

    def ask(requests: list[GenRequest], desc: str, via: ModelClient = client) -> list[str]:
        nonlocal sent, cached
        new = new_request_count(via, requests, store)
        unique = len({r.key(via.api, via.model) for r in requests})
        sent += new
        cached += unique - new
        if new:
            log.info("%s: %d requests (%d answered before)", desc, new, unique - new)
        try:
            answers = generate_all(via, requests, store, concurrency=config.concurrency,
                                   progress=config.progress, desc=desc)
        finally:
            report.requests = {"sent": sent, "cached": cached}
        return [a.text for a in answers]

    try:
        # 1. seed -> concepts, instruction
        requests = [GenRequest("instruction", s.id, instruction_prompt(s.code, key=f"{config.seed}:{s.id}"),
                               config.max_tokens, config.temperature, seed=config.seed) for s in seeds]
        texts = ask(requests, "instructions")
        base: list[Instruction] = []
        for s, text in zip(seeds, texts):
            parsed = parse_instruction(text)
            if parsed is not None:
                base.append(Instruction(id=s.id, seed_id=s.id, text=parsed.instruction, concepts=parsed.concepts))
        parsed_count = len(base)
        base, repeated = distinct_instructions(base)
        report.instructions = {"asked": len(seeds), "parsed": parsed_count, "unparsed": len(seeds) - parsed_count,
                               **repeated, "distinct": len(base)}
        lap("instructions")

        # 2. Evol-Instruct
        def ask_evolutions(jobs: list[tuple[str, FewShotPrompt]]) -> list[str]:
            round_ = int(jobs[0][0].rsplit(".e", 1)[1]) if jobs else 0
            reqs = [GenRequest("evolution", item, prompt, config.max_tokens, config.temperature,
                               seed=config.seed + round_) for item, prompt in jobs]
            return ask(reqs, f"evolution round {round_}")

        evolved, rounds = evolve(base, config.evolve, ask_evolutions, seed=config.seed)
        report.evolution = {
            "rounds": config.evolve, "per_round": [r.to_dict() for r in rounds],
            "attempted": sum(r.attempted for r in rounds), "kept": sum(r.kept for r in rounds),
            "eliminated": {k: sum(r.eliminated[k] for r in rounds) for k in (rounds[0].eliminated if rounds else {})},
        }
        lap("evolution")
        order = {s.id: i for i, s in enumerate(seeds)}
        instructions = sorted(base + evolved, key=lambda x: (order[x.seed_id], x.round))
        write_jsonl(work / "instructions.jsonl", (i.to_dict() for i in instructions))

        # 3. k responses with tests per instruction
        if config.answers == "own":
            # Answers in the model's own voice are chat replies, whatever API the few-shot prompts use.
            chat = client if config.api == "chat" else ModelClient(
                config.url, model, api="chat", api_key=config.api_key, timeout_s=config.request_timeout_s,
                transport=transport)
            texts = _own_answers(config, instructions, lambda reqs, desc: ask(reqs, desc, chat), report)
        else:
            texts = _few_shot_answers(config, instructions, ask, report)
        lap("responses")
    finally:
        store.close()

    # 4. self-validation in the sandbox
    candidates = [Candidate(inst.id, j, texts[n * config.responses + j], inst.text)
                  for n, inst in enumerate(instructions) for j in range(config.responses)]
    outcomes, kept, vstats = validate(candidates, limits=limits, sandbox=sandbox,
                                      store=ExecutionStore(work / "executions.jsonl"),
                                      workers=config.exec_workers, progress=config.progress,
                                      prune_tests=config.prune_tests)
    by_round: dict[str, dict[str, Any]] = {}
    round_of = {i.id: i.round for i in instructions}
    for o in outcomes:
        b = by_round.setdefault(str(round_of[o.instruction_id]),
                                {"instructions": set(), "kept": 0, "run": 0, "passed": 0})
        b["instructions"].add(o.instruction_id)
        b["run"] += o.result is not None
        b["passed"] += o.outcome == "passed"
    for r, b in by_round.items():
        b["kept"] = sum(1 for i in b["instructions"] if i in kept)
        b["instructions"] = len(b["instructions"])
        b["response_pass_rate"] = round(b["passed"] / b["run"], 4) if b["run"] else 0.0
    report.validation = {**vstats.to_dict(), "by_round": dict(sorted(by_round.items(), key=lambda kv: int(kv[0])))}
    with open(work / "outcomes.jsonl", "w", encoding="utf-8") as f:
        for o in outcomes:
            f.write(json.dumps({"instruction": o.instruction_id, "index": o.index, "outcome": o.outcome,
                                "stderr_tail": o.result.stderr_tail[-500:] if o.result else ""}) + "\n")
    lap("validation")

    # 5. the dataset
    dstats = DatasetStats()
    examples = build_examples(instructions, kept, {s.id: s for s in seeds},
                              responses_per_instruction=config.responses, model=model, system=config.system,
                              answer_text=own_answers.answer_of if config.answers == "own" else None)
    examples = decontaminate_examples(examples, decontaminator, dstats)
    dstats.examples = write_jsonl(config.out, examples)
    for ex in examples:
        r = str(ex["meta"]["round"])
        dstats.by_round[r] = dstats.by_round.get(r, 0) + 1
    report.dataset = dstats.to_dict()
    lap("dataset")
    report.write(config.out)
    return report


def _few_shot_answers(config: InstructConfig, instructions: list[Instruction], ask,
                      report: InstructReport) -> list[str]:
    requests = [GenRequest("response", f"{inst.id}.r{j}",
                           response_prompt(inst.text, key=f"{config.seed}:{inst.id}"),
                           config.max_tokens, config.temperature, seed=config.seed + j)
                for inst in instructions for j in range(config.responses)]
    texts = ask(requests, "responses")
    report.responses = {"instructions": len(instructions), "per_instruction": config.responses,
                        "total": len(requests)}

    # Answers that stopped after their explanation are asked to go on with their tests
    # (a third of the small model's answers did).
    if config.api == "completions":
        need = [n for n, text in enumerate(texts) if wants_tests(text)]
        tests_requests = []
        for n in need:
            inst = instructions[n // config.responses]  # texts run k per instruction, in order
            tests_requests.append(GenRequest("tests", f"{requests[n].item}.tests",
                                             tests_prompt(inst.text, texts[n], key=f"{config.seed}:{inst.id}"),
                                             config.max_tokens // 2, config.temperature, seed=requests[n].seed))
        more = ask(tests_requests, "tests")
        for n, tests in zip(need, more):
            texts[n] = with_tests(texts[n], tests)
        report.responses["tests_asked"] = len(need)
    return texts


def _own_answers(config: InstructConfig, instructions: list[Instruction], ask, report: InstructReport) -> list[str]:
    """Each answer joined to its instruction's tests (`own_answers.answer_of` takes them off again)."""
    requests = [GenRequest("response", f"{inst.id}.r{j}", own_answers.answer_prompt(inst.text),
                           config.max_tokens, config.temperature, seed=config.seed + j)
                for inst in instructions for j in range(config.responses)]
    texts = ask(requests, "responses")
    # Greedy: the tests are the model's best guess of the right results, one set per instruction.
    tests_requests = [GenRequest("tests", f"{inst.id}.tests", own_answers.tests_prompt(inst.text),
                                 config.max_tokens // 2, 0.0, seed=config.seed) for inst in instructions]
    tests = [own_answers.tests_from_reply(t) for t in ask(tests_requests, "tests")]
    report.responses = {"instructions": len(instructions), "per_instruction": config.responses,
                        "total": len(requests), "answers": "own", "tests_asked": len(tests_requests),
                        "tests_empty": sum(1 for t in tests if not t.strip())}
    return [with_tests(text, tests[n // config.responses]) for n, text in enumerate(texts)]


def summary(report: InstructReport) -> str:
    v = report.validation
    steps = report.seeds.get("steps", {})
    return (f"{report.dataset.get('examples', 0)} examples -> {report.output}\n"
            f"seeds {steps.get('seeds', 0)} of {steps.get('functions', 0)} functions; "
            f"instructions {report.instructions.get('distinct', 0)} distinct of {report.instructions.get('parsed', 0)} "
            f"(+{report.evolution.get('kept', 0)} evolved); "
            f"responses passing their tests {v.get('outcomes', {}).get('passed', 0)} of {v.get('run', 0)} run "
            f"({100 * v.get('response_pass_rate', 0):.1f}%); instructions kept {v.get('instructions_kept', 0)} of "
            f"{v.get('instructions', 0)}\n"
            f"requests sent {report.requests.get('sent', 0)}, from the cache {report.requests.get('cached', 0)}")


__all__ = ["InstructConfig", "run_instruct", "summary"]
