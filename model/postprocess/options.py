from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# The rules, by the name the API's `codefill.rules` switches and the golden fixtures use.
RULES: tuple[str, ...] = (
    "repeat_suffix",  # a. stop where the completion writes the suffix again
    "closing_line",  # b. drop a trailing closing line the suffix already has
    "scope",  # c. single-line end, block scope of multi-line completions
    "syntax",  # e. multi-line: end where prefix + completion + suffix parses no worse (needs a language)
    "repeat_ending",  # f. multi-line: drop last lines that are the definition's ending in the suffix again
    "whitespace",  # d. trailing whitespace
)


class UnknownRule(ValueError):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        super().__init__(
            f"unknown post-processing rule(s): {', '.join(self.names)}; known rules: {', '.join(RULES)}"
        )


def check_rules(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, or UnknownRule naming the ones that are not rules."""
    chosen = frozenset(names)
    unknown = chosen.difference(RULES)
    if unknown:
        raise UnknownRule(unknown)
    return chosen


@dataclass
class PostprocessOptions:
    enabled: bool = True
    multiline: bool | None = None  # None: decide from the text around the cursor
    disabled_rules: frozenset[str] = field(default_factory=frozenset)  # names from RULES
    language: str | None = None  # tree-sitter grammar name, for the syntax rule (None: no syntax rule)

    def __post_init__(self) -> None:
        self.disabled_rules = check_rules(self.disabled_rules)

    def rule_on(self, name: str) -> bool:
        return name not in self.disabled_rules
