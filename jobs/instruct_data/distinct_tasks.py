"""One instruction per task: the teacher often writes the same task for different seeds.

In the rich run the 0.5B teacher asked for `find_kth_smallest` for 13 of 78
seeds, in different words each time, so MinHash over the text (Jaccard >= 0.5)
caught only a few. Two rules, in order, keeping the first of each group (seed
order):

- `same_name`: the instruction names the same function or class as an earlier
  one (the first backticked identifier, compared case-blind), as the name is
  what the task is in these instructions;
- `near_duplicates`: MinHash near duplicates of an earlier instruction's text.

Instructions that name nothing are only checked by the second rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from codefill.jobs.instruct_data.evolve import Instruction
from codefill.jobs.training.dedup import DEFAULT_THRESHOLD, deduplicate

_NAMED = re.compile(r"(?<!`)`(?!`)\s*(?:def\s+|class\s+)?([A-Za-z_]\w*)")  # not a ``` fence


def task_name(text: str) -> str | None:
    """The first backticked identifier of an instruction, lower-cased (`find_kth(nums, k)` -> find_kth)."""
    m = _NAMED.search(text)
    return m.group(1).lower() if m else None


def distinct_instructions(instructions: Sequence[Instruction], *, threshold: float = DEFAULT_THRESHOLD
                          ) -> tuple[list[Instruction], dict[str, int]]:
    """The instructions left after both rules, and how many each rule dropped."""
    seen: set[str] = set()
    named: list[Instruction] = []
    for inst in instructions:
        name = task_name(inst.text)
        if name is not None:
            if name in seen:
                continue
            seen.add(name)
        named.append(inst)
    result = deduplicate(((i.id, i.text) for i in named), threshold=threshold)
    kept = set(result.kept)
    out = [i for i in named if i.id in kept]
    return out, {"same_name": len(instructions) - len(named), "near_duplicates": len(named) - len(out)}


__all__ = ["distinct_instructions", "task_name"]
