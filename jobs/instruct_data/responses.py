"""The model's answers to the response prompt (`codefill.jobs.instruct_data.prompts`): their implementation and
tests parsed out (`parse_response`), whether the tests check anything, and the answer with other tests.

Apart from the prompts because these read what the model wrote: the validation, pruning and
repair steps need them, and none of them builds a prompt.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from codefill.jobs.evaluation.code_extraction import FencedBlock, fenced_blocks
from codefill.jobs.instruct_data.missing_imports import missing_imports
from codefill.jobs.instruct_data.prompts import _NEXT_SECTION, TESTS


def wants_tests(answer: str) -> bool:
    """An answer with its implementation but no `[Tests]` section at all (nor a cut-off one)."""
    return TESTS not in answer and parse_response(answer)[1] == "no_tests"


@dataclass(frozen=True)
class ParsedResponse:
    text: str  # the whole answer, as it goes into the dataset
    code: str  # the implementation's code blocks
    tests: str  # the tests' code blocks
    imports_added: tuple[str, ...] = ()  # import lines the answer forgot, now at the top of its code

    def program(self) -> str:
        return self.code.rstrip() + "\n\n\n" + self.tests.rstrip() + "\n"


def parse_response(text: str) -> tuple[ParsedResponse | None, str]:
    """The answer's implementation and tests, or (None, why: "no_code" / "no_tests" / "no_assertions")."""
    text = text.strip()
    cut = _NEXT_SECTION.search(text)
    if cut is not None:  # a base model that went on to write the next example
        text = text[:cut.start()].rstrip()
    before, sep, after = text.partition(TESTS)
    if not sep:  # no [Tests] label: the last code block is the tests when there are at least two
        blocks = [b for b in fenced_blocks(text) if b.is_python and b.code.strip()]
        if len(blocks) < 2:
            return None, ("no_code" if not blocks else "no_tests")
        code_blocks, test_blocks = blocks[:-1], blocks[-1:]
    else:
        code_blocks = [b for b in fenced_blocks(before) if b.is_python and b.code.strip()]
        test_blocks = [b for b in fenced_blocks(after) if b.is_python and b.code.strip()]
    if not code_blocks:
        return None, "no_code"
    if not test_blocks:
        return None, "no_tests"
    code = "\n\n".join(b.code.rstrip() for b in code_blocks) + "\n"
    tests = "\n\n".join(b.code.rstrip() for b in test_blocks) + "\n"
    if not checks_something(tests):
        return None, "no_assertions"
    imports = missing_imports(code + "\n" + tests)
    if imports:
        text = _with_lines_before(text, code_blocks[0], imports)
        code = "\n".join(imports) + "\n\n" + code
    return ParsedResponse(text=text, code=code, tests=tests, imports_added=tuple(imports)), "ok"


def _first_line(text: str, block: FencedBlock) -> int:
    """Where the block's first non-blank line starts in `text`."""
    start = block.start
    while text.startswith("\n", start):
        start += 1
    return start


def _with_lines_before(text: str, block: FencedBlock, lines: list[str]) -> str:
    """`text` with `lines` (and a blank line) put at the top of `block`."""
    start = _first_line(text, block)
    return text[:start] + "\n".join(lines) + "\n\n" + text[start:]


def with_tests_replaced(response: ParsedResponse, tests: str) -> ParsedResponse | None:
    """The same answer with other tests in its tests block; None unless the answer has exactly two
    Python blocks (the implementation and the tests), so that the tests block is told apart."""
    blocks = [b for b in fenced_blocks(response.text) if b.is_python and b.code.strip()]
    if len(blocks) != 2:
        return None
    start, end = _first_line(response.text, blocks[1]), blocks[1].end
    text = response.text[:start] + tests.rstrip("\n") + "\n" + response.text[end:]
    return ParsedResponse(text=text, code=response.code, tests=tests.rstrip("\n") + "\n",
                          imports_added=response.imports_added)


def checks_something(tests: str) -> bool:
    """Whether the tests can fail on a wrong answer: an `assert`, an `assert...` call (unittest,
    numpy.testing), a `with pytest.raises(...)` or a `raise AssertionError`. Tests that only call the
    code (or print, or write a file) pass whatever it returns, and kept such answers taught the model
    to echo the instruction's code. Tests that do not parse are left to the sandbox, where they fail."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.lower().startswith("assert") or name == "raises":
                return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
    return False
