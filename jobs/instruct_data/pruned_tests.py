"""Keeping an answer whose code is right and some of its own tests are wrong (`--prune-tests`).

A small teacher writes sound code and then asserts wrong values about it:
`find_kth_smallest([1, 2, 3, 4, 5], 2) == 3`. Strict self-validation drops the
whole answer; with pruning, each check (a top-level statement of the tests that
asserts something) runs on its own in the sandbox, after the implementation and
the statements that set it up, and the checks that fail are dropped. The answer
is kept, with only its passing checks, when at least `MIN_CHECKS` of them and
at least half of them pass, and the pruned tests pass again as one program. Such answers count as `pruned`,
never as `passed`, and an instruction keeps a strictly passing answer over a
pruned one.

What it buys and what it costs: the kept tests are true of the kept code, but
they no longer check the code against the tests the teacher first meant, so a
wrong implementation that agrees with two of its checks gets through. The
report gives the strict pass rate beside the pruned count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from codefill.jobs.instruct_data.responses import checks_something

MIN_CHECKS = 2


@dataclass(frozen=True)
class Statement:
    source: str
    check: bool  # asserts something (see `checks_something`)


def split_statements(tests: str) -> list[Statement] | None:
    """The tests' top-level statements (decorators and all), or None when they do not parse."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return None
    lines = tests.splitlines()
    out = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        source = "\n".join(lines[first - 1:node.end_lineno])
        out.append(Statement(source, checks_something(source)))
    return out


def program(code: str, statements: list[Statement]) -> str:
    return code.rstrip() + "\n\n\n" + "\n".join(s.source for s in statements).rstrip() + "\n"


def check_programs(code: str, statements: list[Statement]) -> list[str]:
    """One program per check: the code, every set-up statement before the check, and the check."""
    out = []
    for i, s in enumerate(statements):
        if s.check:
            out.append(program(code, [t for t in statements[:i] if not t.check] + [s]))
    return out


def pruned(statements: list[Statement], check_passed: list[bool]) -> list[Statement] | None:
    """The statements with the failing checks left out, or None when fewer than `MIN_CHECKS` pass,
    fewer than half pass (then it is as likely the code that is wrong), or none fails (then pruning
    cannot help: the checks fail only together)."""
    passed = iter(check_passed)
    kept = [s for s in statements if not s.check or next(passed)]
    n_passed = sum(check_passed)
    if n_passed < MIN_CHECKS or 2 * n_passed < len(check_passed) or n_passed == len(check_passed):
        return None
    return kept


__all__ = ["MIN_CHECKS", "Statement", "check_programs", "program", "pruned", "split_statements"]
