"""The instruction dataset: JSON Lines of chat messages, one validated example a line.

    {"messages": [{"role": "system", "content": ...},   (only when a system prompt is given)
                  {"role": "user", "content": <instruction>},
                  {"role": "assistant", "content": <response: reasoning, implementation, explanation, tests;
                                                    or, with --answers own, the model's chat reply>}],
     "meta": {"id", "seed_id", "source": {"path", "qualname", "line"}, "concepts", "round", "method",
              "parent", "response_index", "responses", "passed", "tests_pruned", "model", "generator"}}

The messages are what a chat template (and the SFT side) reads; `meta` says
where the example came from. Before writing, the examples are decontaminated
once more (instruction and response together, the 50-character substring
method): a model can reproduce a benchmark problem that no seed contained.
The file is written to a temporary name and renamed, so a reader never sees
half of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefill.jobs.instruct_data.evolve import Instruction
from codefill.jobs.instruct_data.seeds import Seed
from codefill.jobs.instruct_data.validate import Outcome

GENERATOR = "codefill data instruct (self-oss-instruct + evol-instruct)"


@dataclass
class DatasetStats:
    examples: int = 0
    contaminated: int = 0
    contaminated_by_benchmark: dict[str, int] = field(default_factory=dict)
    by_round: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"examples": self.examples, "contaminated": self.contaminated,
                "contaminated_by_benchmark": dict(self.contaminated_by_benchmark), "by_round": dict(self.by_round)}


def build_examples(
    instructions: Sequence[Instruction],
    kept: Mapping[str, Outcome],
    seeds: Mapping[str, Seed],
    *,
    responses_per_instruction: int,
    model: str,
    system: str | None = None,
    answer_text: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """One example per instruction that has a passing response, in the instructions' order.

    `answer_text`: what of a kept response's text is the assistant's turn (default: all of it)."""
    examples = []
    for inst in instructions:
        outcome = kept.get(inst.id)
        if outcome is None or outcome.response is None:
            continue
        seed = seeds[inst.seed_id]
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": inst.text},
            {"role": "assistant", "content": answer_text(outcome.response.text) if answer_text
             else outcome.response.text},
        ]
        examples.append({
            "messages": messages,
            "meta": {
                "id": inst.id, "seed_id": inst.seed_id,
                "source": {"path": seed.path, "qualname": seed.qualname, "line": seed.line},
                "concepts": inst.concepts, "round": inst.round, "method": inst.method, "parent": inst.parent,
                "response_index": outcome.index, "responses": responses_per_instruction, "passed": True,
                "tests_pruned": outcome.outcome == "pruned",
                "model": model, "generator": GENERATOR,
            },
        })
    return examples


def decontaminate_examples(examples: list[dict[str, Any]], decontaminator: Any | None,
                           stats: DatasetStats) -> list[dict[str, Any]]:
    if decontaminator is None:
        return examples
    texts = ((str(i), "\n".join(m["content"] for m in ex["messages"] if m["role"] != "system"))
             for i, ex in enumerate(examples))
    result = decontaminator.filter(texts)
    stats.contaminated = len(result.dropped)
    stats.contaminated_by_benchmark = dict(result.texts_by_benchmark)
    return [examples[int(k)] for k in result.kept]


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
