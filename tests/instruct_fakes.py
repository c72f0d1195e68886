"""A deterministic fake model server for `codefill data instruct`, and a repository to run it on.

`instruct_app` answers `/v1/completions` (the few-shot text) and
`/v1/chat/completions` (the last user message) by what the prompt asks:

- a seed prompt (ends with "### Concepts"): concepts and the instruction
  "Write a Python function `NAME` that returns 42.", NAME being the seed's
  function; a seed named `garbled_*` gets an answer without an instruction;
- a response prompt (ends with "### Response"): an implementation of the
  instruction's NAME and its tests, by NAME's prefix: `ok_*` passes,
  `bad_*` fails, `mixed_*` fails for an even request `seed` and passes for an
  odd one, `notests_*` and `later_*` have no tests;
- a tests prompt (an answer followed by an opened `[Tests]` block): nothing
  for `notests_*`, passing tests for any other NAME (`later_*`: the answer
  that stopped early gets its tests this way);
- `--answers own`: the instruction alone as a chat message gets a plain reply
  with the implementation (by NAME's prefix, as above) and an example call;
  the tests request ("Here is a programming task:") gets asserts of 42 for NAME
  after a definition of NAME that returns 42 (which must not count), or none
  for `notests_*`;
- an evolution prompt ("#Rewritten Prompt#:" / "#Created Prompt#:"): the given
  instruction plus a sentence, except when NAME contains `evosame` (the same
  text back: no change), `evosorry` (a short refusal), `evostop` (stop words
  only) or `evocopy` (the template's words copied).

Every request body is appended to `log`; with `fail_after` N, requests after
the Nth get a 400 (a server that went away mid-run).

`make_seed_repo` writes a folder whose functions hit every seed filter; its
expected counts are `SEED_STEPS`.
"""

from __future__ import annotations

import re
import textwrap
from functools import cache
from pathlib import Path

MODEL = "fake-coder"


def _last_section(text: str, header: str) -> str | None:
    i = text.rfind(header)
    return None if i < 0 else text[i + len(header):]


def answer_for(text: str, seed: int | None) -> str | None:
    """The fake model's answer to a prompt (the whole text, or the last user message)."""
    tail = text.rstrip()
    if text.startswith(OWN_TESTS_HEAD):
        name = re.search(r"`(\w+)`", text).group(1)
        if name.startswith("notests_"):
            return "I cannot think of any tests for this."
        return (f"```python\ndef {name}(*args, **kwargs):\n    return 42\n\n\n"
                f"assert {name}() == 42\nassert {name}(3) == 42\n```")
    if text.startswith(OWN_ANSWER_HEAD):
        name = re.search(r"`(\w+)`", text).group(1)
        return own_answer_text(name, seed or 0)
    if tail.endswith("### Concepts"):
        snippet = _last_section(text, "### Snippet") or ""
        name = re.search(r"def\s+(\w+)", snippet).group(1)
        if name.startswith("garbled_"):
            return "recursion, memoization\n\nI am not sure what to ask."
        return (f"functions, return values, constants\n\n### Instruction\n"
                f"Write a Python function `{name}` that returns 42.")
    if tail.endswith("### Response"):
        instruction = _last_section(text, "### Instruction") or ""
        name = re.search(r"`(\w+)`", instruction).group(1)
        return response_text(name, seed or 0)
    if tail.endswith("[Tests]\n```python"):
        instruction = _last_section(text, "### Instruction") or ""
        name = re.search(r"`(\w+)`", instruction).group(1)
        return "" if name.startswith("notests_") else f"assert {name}() == 42\nassert {name}(3) == 42\n"
    for given_header, end_header in (("#The Given Prompt#:\n", "\n#Rewritten Prompt#:"),
                                     ("#Given Prompt#:\n", "\n#Created Prompt#:")):
        if tail.endswith(end_header.strip()):
            given = (_last_section(text, given_header) or "").split(end_header)[0].strip()
            return evolution_text(given)
    return None


def response_text(name: str, seed: int) -> str:
    value = 42 if passes(name, seed) else 41
    tests = "" if name.startswith(("notests_", "later_")) else (
        f"\n\n[Tests]\n```python\nassert {name}() == 42\nassert {name}(1, 2) == 42\n```")
    return (f"[Reasoning]\nThe function ignores its arguments and returns the constant.\n\n"
            f"[Implementation]\n```python\ndef {name}(*args, **kwargs):\n    return {value}\n```\n\n"
            f"[Explanation]\nIt returns {value} whatever it is given.{tests}")


OWN_ANSWER_HEAD = "Write a Python function `"  # every instruction of the fake model starts so
OWN_TESTS_HEAD = "Here is a programming task:"


def passes(name: str, seed: int) -> bool:
    return name.startswith(("ok_", "later_")) or (name.startswith("mixed_") and seed % 2 == 1)


def own_answer_text(name: str, seed: int) -> str:
    value = 42 if passes(name, seed) else 41
    return (f"Here is `{name}`:\n\n```python\ndef {name}(*args, **kwargs):\n    return {value}\n\n\n"
            f"# Example usage\nprint({name}())\n```\n\nIt returns {value} whatever it is given.")


def evolution_text(given: str) -> str:
    if "evosame" in given:
        return "  " + given.upper() + " "  # case and spacing do not make it new
    if "evosorry" in given:
        return "Sorry, I cannot make this task harder."
    if "evostop" in given:
        return "The of and to, it is."
    if "evocopy" in given:
        return "#Rewritten Prompt#: " + given + " Also reject negative inputs."
    return given + " Also accept and ignore any extra arguments."


def instruct_app(log: list[dict], *, fail_after: int | None = None, name: str = MODEL):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "max_model_len": 8192}]}

    def reply(body: dict, text_in: str):
        log.append(body)
        if fail_after is not None and len(log) > fail_after:
            return None, JSONResponse({"error": {"message": "fake server stopped", "type": "invalid_request_error"}},
                                      status_code=400)
        text = answer_for(text_in, body.get("seed"))
        if text is None:
            return None, JSONResponse({"error": {"message": "fake server: unknown prompt"}}, status_code=400)
        return text, None

    @app.post("/v1/completions")
    async def completions(body: dict):
        text, error = reply(body, body["prompt"])
        if error is not None:
            return error
        return {"id": "cmpl-fake", "object": "text_completion", "model": body["model"],
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        text, error = reply(body, body["messages"][-1]["content"])
        if error is not None:
            return error
        return {"id": "chat-fake", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    return app


def requests_of(log: list[dict]) -> dict[str, int]:
    """How many logged requests were for each stage."""
    counts = {"instruction": 0, "response": 0, "evolution": 0, "tests": 0}
    for body in log:
        text = body.get("prompt") or body["messages"][-1]["content"]
        tail = text.rstrip()
        kind = ("instruction" if tail.endswith("### Concepts") else
                "response" if tail.endswith("### Response") or text.startswith(OWN_ANSWER_HEAD) else
                "tests" if tail.endswith("[Tests]\n```python") or text.startswith(OWN_TESTS_HEAD) else
                "evolution")
        counts[kind] += 1
    return counts


# --------------------------------------------------------------------------- the seed repository

SHAPES_PY = '''"""Shapes."""


def ok_area(width, height):
    """Area of a width x height rectangle."""
    return width * height


def no_doc(x):
    return x + 1


def stub():
    """To be written."""
    pass


class Box:
    """A box."""

    def __init__(self, w, h, d):
        self.w, self.h, self.d = w, h, d

    def ok_volume(self):
        """The box's volume."""
        return self.w * self.h * self.d

    def shape_name(self):
        """The shape's name."""
        raise NotImplementedError


def ok_histogram(values, buckets):
    """Counts of the values in `buckets` equal-width buckets between their minimum and maximum."""
    if not values:
        return [0] * buckets
    low, high = min(values), max(values)
    width = (high - low) / buckets or 1
    counts = [0] * buckets
    for value in values:
        index = min(int((value - low) / width), buckets - 1)
        counts[index] += 1
    return counts
'''

# The same function again (only trailing spaces differ): an exact duplicate.
COPY_PY = '"""A copy."""\n\n\ndef ok_area(width, height):   \n    """Area of a width x height rectangle."""   \n' \
          '    return width * height\n'

# ok_histogram with one statement written another way: a near duplicate (estimated Jaccard 0.83).
NEAR_PY = SHAPES_PY[SHAPES_PY.index("def ok_histogram"):].replace(
    "counts[index] += 1", "counts[index] = counts[index] + 1")

MATHY_PY = '''def bad_div(a, b):
    """Integer division that rounds toward zero."""
    return int(a / b)


def mixed_mul(a, b):
    """Product of two numbers."""
    return a * b


def notests_sub(a, b):
    """Difference of two numbers."""
    return a - b


def garbled_pow(a, b):
    """a to the power b."""
    return a ** b


def ok_evosame(x):
    """Double x."""
    return 2 * x


def ok_evosorry(x):
    """Triple x."""
    return 3 * x


def ok_evostop(x):
    """Square x."""
    return x * x


def ok_evocopy(x):
    """Negate x."""
    return -x


async def placeholder():
    """Not done yet."""
    ...
'''

BROKEN_PY = '''def ok_fine(x):
    """Increment."""
    return x + 1


def ok_broken(x):
    """Broken on purpose."""
    y = = x
    return y
'''

MAIN_JS = "export function add(a, b) {\n  return a + b;\n}\n"


@cache
def humaneval_seed() -> tuple[str, str]:
    """(problem id, a file with a HumanEval problem's function and canonical solution, caught by a needle)."""
    from codefill.jobs.evaluation.humaneval import load_problems
    from codefill.jobs.training.decontaminate import BenchmarkProblem, normalize, sample_needles

    for p in load_problems():
        start = p.prompt.find("def " + p.entry_point)
        if start < 0 or p.prompt.count("def ") != 1:  # one function: no helpers to count apart
            continue
        function = p.prompt[start:] + p.canonical_solution
        needles = sample_needles(BenchmarkProblem("humaneval", p.task_id, p.prompt + p.canonical_solution))
        if any(n.text in normalize(function) for n in needles):
            return p.task_id, p.prompt + p.canonical_solution
    raise AssertionError("no HumanEval problem has a needle inside its function")


@cache
def mbpp_seed() -> tuple[str, str]:
    """(problem id, a file with an MBPP reference function given a docstring, still caught)."""
    import ast

    from codefill.jobs.evaluation.mbpp import load_problems
    from codefill.jobs.training.decontaminate import mbpp_problems, normalize, sample_needles

    problems = {p.problem_id: p for p in mbpp_problems()}
    for p in load_problems(split="test"):
        code = p.code.replace("\r\n", "\n").replace("\t", "    ")
        lines = code.split("\n")
        defs = [i for i, line in enumerate(lines) if line.startswith("def ")]
        if len(defs) != 1 or code.count("def ") != 1:
            continue
        i = defs[0]
        indent = "    "
        with_doc = "\n".join(lines[:i + 1] + [indent + '"""' + p.text.replace('"', "'") + '"""'] + lines[i + 1:])
        try:
            ast.parse(with_doc)
        except SyntaxError:
            continue
        function = "\n".join(with_doc.split("\n")[i:])
        if any(n.text in normalize(function) for n in sample_needles(problems[p.name])):
            return p.name, with_doc + "\n"
    raise AssertionError("no MBPP problem fits")


def seed_repo_files() -> dict[str, str]:
    return {
        "src/shapes.py": SHAPES_PY,
        "src/copy_of_shapes.py": COPY_PY,
        "src/stats.py": '"""Statistics."""\n\n\n' + NEAR_PY,
        "src/mathy.py": MATHY_PY,
        "src/broken.py": BROKEN_PY,
        "src/solution.py": humaneval_seed()[1],
        "src/pasted.py": mbpp_seed()[1],
        "web/main.js": MAIN_JS,
    }


# What extract_seeds must count on that folder.
SEED_STEPS = {
    "python_files": 7,
    # shapes 7 (ok_area, no_doc, stub, __init__, ok_volume, shape_name, ok_histogram), copy 1, stats 1,
    # mathy 9, broken 2, solution 1 + its helpers, pasted 1
    "functions": None,  # filled in by the test from the HumanEval/MBPP files (they may hold helpers)
    "no_docstring": None,
    "unparseable": 1,  # ok_broken
    "trivial": 3,  # stub (pass), Box.shape_name (raise NotImplementedError), placeholder (...)
    "too_long": 0,
    "exact_duplicates": 1,  # copy_of_shapes.ok_area
    "near_duplicates": 1,  # stats.ok_histogram
    "contaminated": 2,  # the HumanEval and the MBPP function
    "seeds": 12,  # ok_area, Box.ok_volume, ok_histogram, 8 in mathy, ok_fine
}

# Seeds by the fake model's behaviour.
PASSING_SEEDS = ("ok_area", "Box.ok_volume", "ok_histogram", "ok_fine")
EVOLUTION_ELIMINATED = ("ok_evosame", "ok_evosorry", "ok_evostop", "ok_evocopy")


def make_seed_repo(root: Path) -> Path:
    for rel, text in seed_repo_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if rel.endswith(".js") else text, encoding="utf-8")
    return root
