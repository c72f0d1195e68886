"""The user messages sent to chat models for the instruct benchmarks.

Zero-shot, one user message, no system message (the server's chat template adds
the model's default one, as it would for any user):

* HumanEval: EvalPlus's instruction ("Please provide a self-contained Python
  script that solves the following problem in a markdown code block:") followed
  by the problem's prompt (signature + docstring) in a ```python block. EvalPlus
  also pre-fills the assistant's turn with "Below is a Python script with a
  self-contained function ..." and an opened ```python fence; an OpenAI chat
  endpoint has no portable way to pre-fill, so the reply starts from scratch and
  the code is taken out of it (`code_extraction`).
* MBPP: the prompt of Austin et al. 2021, as most instruct evaluations use it:
  "You are an expert Python programmer, and here is your task: {text} Your code
  should pass these tests:" with the three asserts of `test_list` (one per line),
  and one closing sentence that asks for the code block. The asserts name the
  function and show its arguments, which the problem text alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence

HUMANEVAL_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem "
    "in a markdown code block:"
)
MBPP_FORMAT_REQUEST = "Write your solution as a self-contained Python script in a ```python code block."


def humaneval_prompt(problem_prompt: str) -> str:
    """EvalPlus's instruct prompt around a HumanEval problem's prompt."""
    return f"{HUMANEVAL_INSTRUCTION}\n```python\n{problem_prompt.strip()}\n```\n"


def mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    """Austin et al.'s MBPP prompt: the problem statement, then the asserts it must pass."""
    asserts = "\n".join(t.strip() for t in tests)
    return (
        f"You are an expert Python programmer, and here is your task: {text.strip()} "
        f"Your code should pass these tests:\n\n{asserts}\n\n{MBPP_FORMAT_REQUEST}\n"
    )


def user_messages(prompt: str) -> list[dict[str, str]]:
    """The `messages` of a chat request that asks `prompt`."""
    return [{"role": "user", "content": prompt}]
