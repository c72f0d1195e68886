"""Imports an answer forgot: added to its implementation before the sandbox runs it.

Small models write `def f(xs: List[int])` or `Counter(words)` and leave out the
import; in the rich run this was a fifth of all failures (NameError), on
answers whose logic was never tested. The repair is narrow: only names that
are used and bound nowhere in the program (implementation and tests), and only
names with one unambiguous home in the standard library:

- the names `typing` exports (`List`, `Optional`, ...) -> `from typing import ...`;
- a few well-known classes and functions (`Counter`, `defaultdict`, `reduce`,
  `dataclass`, ...) -> `from MODULE import NAME`;
- well-known modules used as `module.attribute` (`math.sqrt`) -> `import module`
  (not `datetime`: `datetime.now()` wants the class, `datetime.date` the module).

The added lines become part of the kept answer, so the dataset holds code that
runs as written. A program that does not parse is left as it is.
"""

from __future__ import annotations

import ast
import builtins
import typing

_TYPING_NAMES = frozenset(n for n in typing.__all__ if not n.startswith("_"))

_FROM_IMPORTS: dict[str, str] = {
    **{n: "collections" for n in ("Counter", "defaultdict", "deque", "OrderedDict", "namedtuple", "ChainMap")},
    **{n: "functools" for n in ("reduce", "lru_cache", "cache", "partial", "wraps", "cmp_to_key",
                                "total_ordering", "cached_property")},
    **{n: "itertools" for n in ("permutations", "combinations", "product", "chain", "groupby", "accumulate",
                                "islice", "zip_longest", "combinations_with_replacement")},
    **{n: "dataclasses" for n in ("dataclass", "field", "asdict", "astuple")},
    **{n: "abc" for n in ("ABC", "abstractmethod")},
    **{n: "enum" for n in ("Enum", "IntEnum", "auto")},
    "Decimal": "decimal", "Fraction": "fractions", "Path": "pathlib",
    "heappush": "heapq", "heappop": "heapq", "heapify": "heapq",
    "bisect_left": "bisect", "bisect_right": "bisect", "insort": "bisect",
    "sqrt": "math", "gcd": "math", "inf": "math",
}

_MODULES = frozenset((
    "abc", "bisect", "collections", "copy", "csv", "dataclasses", "decimal", "enum",
    "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json", "math", "operator", "os",
    "random", "re", "statistics", "string", "sys", "textwrap", "time", "typing", "unicodedata",
))


def missing_imports(program: str) -> list[str]:
    """The import lines `program` needs for names it uses but never binds (see the module's doc)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return []
    bound: set[str] = set(dir(builtins))
    used: set[str] = set()
    as_module: set[str] = set()  # names used as `name.attr`
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            as_module.add(node.value.id)
    missing = used - bound
    # typing's deprecated aliases (Counter, OrderedDict, ...) go to their real homes
    typing_names = sorted(n for n in missing if n in _TYPING_NAMES and n not in _FROM_IMPORTS)
    lines = [f"from typing import {', '.join(typing_names)}"] if typing_names else []
    by_module: dict[str, list[str]] = {}
    for name in sorted(missing - set(typing_names)):
        if name in _FROM_IMPORTS:
            by_module.setdefault(_FROM_IMPORTS[name], []).append(name)
    lines += [f"from {module} import {', '.join(names)}" for module, names in sorted(by_module.items())]
    lines += [f"import {name}" for name in sorted(missing & as_module & _MODULES)]
    return lines


__all__ = ["missing_imports"]
