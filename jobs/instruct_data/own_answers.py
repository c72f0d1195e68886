"""Answers in the served model's own voice (`--answers own`): rejection-sampling fine-tuning.

The few-shot answers of Self-OSS-Instruct imitate the worked examples' format
(`[Reasoning]`, `[Implementation]`, ...). A small chat model imitating them
writes terser and worse code than it writes when simply asked, and an adapter
trained on them takes that voice into every answer: on rich, the 0.5B model's
HumanEval pass@1 went from 0.500 to 0.350 and 0.425 (one-line bodies where the
base model reasons step by step, signatures echoed with no body).

Here an instruction goes alone to `/v1/chat/completions`, as a user would send
it (no system message: the chat template's default, as at serving time), and
the reply is the answer. Training on the replies that pass tests moves the
model toward its own correct answers instead of toward another voice
(rejection sampling fine-tuning, as in STaR and RFT).

The tests are asked for once per instruction, from the instruction alone:
written without seeing any answer, they cannot be fitted to one answer's
mistakes, and the k answers of an instruction meet the same checks. Whatever
the tests reply defines (a helper, or the solution itself) is left out, so only
the answer's code can make them pass. They run after the whole answer, its
example calls and self-checks included: a reply that calls its own check with
a wrong assert, or demonstrates itself on a file that is not there, fails as it
would for the user who runs it (kept, such replies taught the adapter to end
HumanEval answers with a failing self-check). The tests decide what is kept;
they do not go into the dataset, which holds the reply alone.
"""

from __future__ import annotations

import ast

from codefill.jobs.evaluation.code_extraction import fenced_blocks
from codefill.jobs.instruct_data.prompts import TESTS_OPENING, FewShotPrompt, with_tests

TESTS_REQUEST = """\
Here is a programming task:

{instruction}

Write tests for a correct solution of this task: 3 to 5 `assert` statements that call it on small \
inputs and check the exact expected results. Reply with only the asserts in one ```python code block. \
Do not write the solution."""



def answer_prompt(instruction: str) -> FewShotPrompt:
    """The instruction as one user message (no system message, no examples)."""
    return FewShotPrompt("", (), instruction.strip())


def tests_prompt(instruction: str) -> FewShotPrompt:
    return FewShotPrompt("", (), TESTS_REQUEST.format(instruction=instruction.strip()))


def tests_from_reply(reply: str) -> str:
    """The checks of a tests reply: its Python blocks (or the reply itself when it has none) without the
    functions and classes they define, and without a last statement cut off by the token limit. An empty
    string when nothing is left."""
    blocks = [b.code for b in fenced_blocks(reply) if b.is_python and b.code.strip()]
    parsed = _parsable_head("\n\n".join(blocks) if blocks else reply)
    if parsed is None:
        return ""
    source, tree = parsed
    kept = [node for node in tree.body
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return "\n".join(ast.get_source_segment(source, node) or "" for node in kept).strip() + "\n" if kept else ""


def _parsable_head(source: str) -> tuple[str, ast.Module] | None:
    """The longest run of whole first lines of `source` that parses (a reply cut at max_tokens ends
    mid-statement), with its tree."""
    lines = source.splitlines()
    for end in range(len(lines), 0, -1):
        head = "\n".join(lines[:end])
        try:
            return head, ast.parse(head)
        except SyntaxError:
            continue
    return None


def answer_of(text: str) -> str:
    """What goes into the dataset: the answer without the tests `prompts.with_tests` joined to it (for the
    sandbox, `parse_response` reads the code before their `[Tests]` label and the tests after it)."""
    head, sep, _ = text.rpartition(TESTS_OPENING)
    return head.rstrip() if sep else text


__all__ = ["TESTS_REQUEST", "answer_of", "answer_prompt", "tests_from_reply", "tests_prompt"]
