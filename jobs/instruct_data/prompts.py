"""Few-shot prompts of Self-OSS-Instruct (StarCoder2-Instruct, "Self-Alignment for Code Generation", 2024).

Two steps, each a few-shot prompt the served model continues:

1. seed -> (concepts, instruction): a seed function from the repository; the
   model lists the programming concepts it shows and writes one independent
   task that exercises them (StarCoder2-Instruct's S->C and C->I, asked in one
   prompt here).
2. instruction -> response: the model answers in four parts, `[Reasoning]`,
   `[Implementation]` (a Python code block), `[Explanation]` and `[Tests]`
   (a Python code block of assertions). The implementation and the tests are
   run together in the sandbox; only answers whose own tests pass are kept.

A prompt is a `FewShotPrompt`: a system text, example (input, output) pairs
and the item's input. `as_text()` renders it as one document for
`/v1/completions` (what the paper did with a base model: the model continues
after the item's input, and stop strings end it where the next example would
begin); `as_messages()` renders it as chat turns for `/v1/chat/completions`.
The examples' order is shuffled per item (seeded), as the paper samples its
few-shot examples per seed.

What the model answers is parsed and checked by `codefill.jobs.instruct_data.responses`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from codefill.jobs.evaluation.code_extraction import fenced_blocks

SNIPPET = "### Snippet"
CONCEPTS = "### Concepts"
INSTRUCTION = "### Instruction"
RESPONSE = "### Response"
REASONING, IMPLEMENTATION, EXPLANATION, TESTS = "[Reasoning]", "[Implementation]", "[Explanation]", "[Tests]"


@dataclass(frozen=True)
class FewShotPrompt:
    system: str
    shots: tuple[tuple[str, str], ...]  # (input, output), in the order shown
    query: str  # this item's input; the model writes its output
    stop: tuple[str, ...] = ()  # for /v1/completions: where the next example would start

    def as_text(self) -> str:
        parts = [self.system.strip(), ""]
        for given, answer in self.shots:
            parts.append(given + answer.strip() + "\n")
        parts.append(self.query)
        return "\n".join(parts)

    def as_messages(self) -> list[dict[str, str]]:
        # No system text: no system message, so the chat template puts in the model's default one.
        messages = [{"role": "system", "content": self.system.strip()}] if self.system.strip() else []
        for given, answer in self.shots:
            messages.append({"role": "user", "content": given.strip()})
            messages.append({"role": "assistant", "content": answer.strip()})
        messages.append({"role": "user", "content": self.query.strip()})
        return messages


# --------------------------------------------------------------------------- seed -> concepts, instruction

INSTRUCTION_SYSTEM = """\
You are an expert programming teacher. Each snippet below comes from a real code base. First list the key
programming concepts the snippet shows, as a short comma-separated list. Then write one self-contained Python
programming task that exercises those concepts. The task must stand on its own: it must not mention the
snippet, it must name the function to write and its parameters, and a solution must be checkable with plain
assertions (no network, no files, no user input)."""

_SEED_SHOTS: tuple[tuple[str, str, str], ...] = (
    (
        '''def chunk_rows(rows, size):
    """Split `rows` into consecutive lists of at most `size` rows."""
    if size <= 0:
        raise ValueError("size must be positive")
    return [rows[i:i + size] for i in range(0, len(rows), size)]''',
        "list slicing, range with a step, list comprehension, argument validation",
        "Write a Python function `batched(items, n)` that splits a list into consecutive batches of at most `n` "
        "items, keeping their order; the last batch may be shorter. Raise `ValueError` when `n` is not a positive "
        "integer. For example, `batched([1, 2, 3, 4, 5], 2)` returns `[[1, 2], [3, 4], [5]]`.",
    ),
    (
        '''def parse_duration(spec: str) -> int:
    """Seconds in a duration such as "90s", "15m" or "2h"."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = spec[:-1], spec[-1]
    if unit not in units or not number.isdigit():
        raise ValueError(f"bad duration: {spec}")
    return int(number) * units[unit]''',
        "string slicing, dictionary lookup, input validation with exceptions, unit conversion",
        "Write a Python function `to_bytes(size)` that converts a size string such as `\"512B\"`, `\"4K\"`, "
        "`\"10M\"` or `\"2G\"` (powers of 1024) into a number of bytes. Raise `ValueError` for an unknown unit "
        "or a number part that is not a non-negative integer. For example, `to_bytes(\"4K\")` returns `4096`.",
    ),
    (
        '''class LRUCache:
    def get(self, key):
        """The cached value of `key` (now the most recent), or None."""
        if key not in self._data:
            return None
        self._data.move_to_end(key)
        return self._data[key]''',
        "ordered dictionaries, recency order, membership tests, classes with state",
        "Write a Python class `RecentSet` with a capacity given to its constructor, a method `add(item)` and a "
        "method `items()` that returns the items from the most to the least recently added. Adding an item "
        "already present makes it the most recent; adding beyond the capacity forgets the least recent item. "
        "For example, with capacity 2, adding 1, 2, 1, 3 leaves `items() == [3, 1]`.",
    ),
)


def seed_shot_input(code: str) -> str:
    return f"{SNIPPET}\n```python\n{code.rstrip()}\n```\n\n{CONCEPTS}\n"


def seed_shot_output(concepts: str, instruction: str) -> str:
    return f"{concepts}\n\n{INSTRUCTION}\n{instruction}"


def _shuffled(items: tuple, rng_key: str) -> tuple:
    items = list(items)
    random.Random(rng_key).shuffle(items)
    return tuple(items)


def instruction_prompt(seed_code: str, *, key: str) -> FewShotPrompt:
    """The S->C->I prompt for one seed; `key` (seed and item id) orders the examples."""
    shots = tuple((seed_shot_input(code), seed_shot_output(concepts, instruction))
                  for code, concepts, instruction in _shuffled(_SEED_SHOTS, key))
    return FewShotPrompt(INSTRUCTION_SYSTEM, shots, seed_shot_input(seed_code), stop=(f"\n{SNIPPET}",))


@dataclass(frozen=True)
class ParsedInstruction:
    concepts: str
    instruction: str


_NEXT_SECTION = re.compile(r"^###[ \t]+(?:Snippet|Concepts|Instruction|Response)[ \t]*$", re.MULTILINE)


def parse_instruction(text: str) -> ParsedInstruction | None:
    """(concepts, instruction) from the model's output; None when the instruction is missing or empty."""
    head, sep, rest = text.partition(INSTRUCTION)
    if not sep:
        return None
    cut = _NEXT_SECTION.search(rest)
    instruction = (rest[:cut.start()] if cut else rest).strip()
    concepts = head.replace(CONCEPTS, "").strip()
    if not instruction:
        return None
    return ParsedInstruction(concepts=concepts, instruction=instruction)


# --------------------------------------------------------------------------- instruction -> response + tests

RESPONSE_SYSTEM = """\
You are an expert Python programmer. Answer each instruction in four parts: [Reasoning] how to solve it,
[Implementation] the solution in one Python code block, each function and class with a docstring,
[Explanation] why it is correct, and [Tests] one Python code block of assertions that check the
implementation, including edge cases. The tests must run as they are after the implementation, with only the
standard library, and without network, files or input."""

_RESPONSE_SHOTS: tuple[tuple[str, str], ...] = (
    (
        "Write a Python function `batched(items, n)` that splits a list into consecutive batches of at most `n` "
        "items, keeping their order; the last batch may be shorter. Raise `ValueError` when `n` is not a positive "
        "integer.",
        """[Reasoning]
Walk the list in steps of `n` and slice out each batch; validate `n` first so that a step of zero can never
make the loop run forever.

[Implementation]
```python
def batched(items, n):
    \"\"\"Split `items` into consecutive lists of at most `n` items, in order.

    >>> batched([1, 2, 3], 2)
    [[1, 2], [3]]
    \"\"\"
    if not isinstance(n, int) or n <= 0:
        raise ValueError("n must be a positive integer")
    return [items[i:i + n] for i in range(0, len(items), n)]
```

[Explanation]
`range(0, len(items), n)` yields the start of every batch; a slice past the end stops at the end, so the last
batch holds what is left.

[Tests]
```python
assert batched([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
assert batched([], 3) == []
assert batched([1, 2], 5) == [[1, 2]]
for bad in (0, -1, 1.5):
    try:
        batched([1], bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"no ValueError for n={bad!r}")
```""",
    ),
    (
        "Write a Python function `to_bytes(size)` that converts a size string such as `\"512B\"`, `\"4K\"`, "
        "`\"10M\"` or `\"2G\"` (powers of 1024) into a number of bytes. Raise `ValueError` for an unknown unit "
        "or a number part that is not a non-negative integer.",
        """[Reasoning]
The last character is the unit and the rest the number; a table maps each unit to its factor.

[Implementation]
```python
_FACTORS = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def to_bytes(size):
    \"\"\"The number of bytes in a size such as "4K" (units B, K, M, G; powers of 1024).\"\"\"
    number, unit = size[:-1], size[-1:]
    if unit not in _FACTORS or not number.isdigit():
        raise ValueError(f"bad size: {size!r}")
    return int(number) * _FACTORS[unit]
```

[Explanation]
`str.isdigit` rejects signs, spaces and decimals, and `size[-1:]` is empty for an empty string, which is not a
unit, so every malformed input raises.

[Tests]
```python
assert to_bytes("512B") == 512
assert to_bytes("4K") == 4096
assert to_bytes("2G") == 2 * 1024 ** 3
for bad in ("", "K", "4X", "-1K", "1.5M"):
    try:
        to_bytes(bad)
    except ValueError:
        pass
    else:
        raise AssertionError(bad)
```""",
    ),
    (
        "Write a Python class `RecentSet` with a capacity given to its constructor, a method `add(item)` and a "
        "method `items()` that returns the items from the most to the least recently added. Adding an item "
        "already present makes it the most recent; adding beyond the capacity forgets the least recent item.",
        """[Reasoning]
An `OrderedDict` keeps insertion order and can move a key to the end, so the end is the most recent item and
the front the one to forget.

[Implementation]
```python
from collections import OrderedDict


class RecentSet:
    \"\"\"A set that remembers the `capacity` most recently added items.\"\"\"

    def __init__(self, capacity):
        self.capacity = capacity
        self._items = OrderedDict()

    def add(self, item):
        \"\"\"Add `item` as the most recent, forgetting the least recent beyond the capacity.\"\"\"
        self._items.pop(item, None)
        self._items[item] = None
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def items(self):
        \"\"\"The items, most recent first.\"\"\"
        return list(reversed(self._items))
```

[Explanation]
Removing an item before adding it again puts it at the end; `popitem(last=False)` drops the oldest.

[Tests]
```python
s = RecentSet(2)
for x in (1, 2, 1, 3):
    s.add(x)
assert s.items() == [3, 1]
t = RecentSet(3)
assert t.items() == []
t.add("a")
t.add("a")
assert t.items() == ["a"]
```""",
    ),
)


def example_code() -> str:
    """The code of the response prompt's worked examples: an answer that is mostly this code copied
    one of them instead of answering its own instruction."""
    return "\n".join(b.code for _, answer in _RESPONSE_SHOTS for b in fenced_blocks(answer))


def response_shot_input(instruction: str) -> str:
    return f"{INSTRUCTION}\n{instruction.strip()}\n\n{RESPONSE}\n"


def response_prompt(instruction: str, *, key: str) -> FewShotPrompt:
    shots = tuple((response_shot_input(i), r) for i, r in _shuffled(_RESPONSE_SHOTS, key))
    return FewShotPrompt(RESPONSE_SYSTEM, shots, response_shot_input(instruction),
                         stop=(f"\n{INSTRUCTION}", f"\n{SNIPPET}"))


TESTS_OPENING = f"\n\n{TESTS}\n```python\n"


def tests_prompt(instruction: str, answer: str, *, key: str) -> FewShotPrompt:
    """For an answer that ended before its `[Tests]`: the same prompt with the answer and an opened
    tests block, so the model writes only the tests (for /v1/completions; a chat turn cannot be
    continued portably)."""
    base = response_prompt(instruction, key=key)
    return FewShotPrompt(base.system, base.shots, base.query + answer.strip() + TESTS_OPENING,
                         stop=("```", *base.stop))


def with_tests(answer: str, tests: str) -> str:
    return answer.strip() + TESTS_OPENING + tests.strip("\n") + "\n```"
