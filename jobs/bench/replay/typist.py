"""When the simulated user presses each key.

The human rhythm: 60-250 ms between keys, plus a pause to think after a line
(0.5-1.8 s after Enter; after one line in five, a longer stop of 2-5.8 s) and after
`(`, `.` and `:` (0.2-0.7 s), where editors see most of their completion requests.
Each gap is drawn from a generator seeded by
(seed, session, position in the typed text), so every client replaying a session
meets the same pause at the same place, and a run repeats exactly for a seed.
The constant rhythm is the middle of each range, for runs that must not vary at all.

Enter and the indentation after it are one keystroke: editors indent new lines
themselves, and nobody types eight spaces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RHYTHMS = ("human", "constant")
THINK_AFTER = "(.:"


@dataclass(frozen=True)
class Rhythm:
    kind: str = "human"
    speed: float = 1.0  # 2: every gap halves
    seed: int = 0
    key_ms: tuple[float, float] = (60.0, 250.0)
    line_end_ms: tuple[float, float] = (500.0, 1800.0)
    think_ms: tuple[float, float] = (200.0, 700.0)
    long_stop_ms: tuple[float, float] = (1500.0, 4000.0)  # on top of a line's pause, now and then
    long_stop_share: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in RHYTHMS:
            raise ValueError(f"rhythm is one of {', '.join(RHYTHMS)}, got {self.kind!r}")
        if not self.speed > 0:
            raise ValueError(f"typing speed must be positive, got {self.speed}")

    def gap_s(self, key: str, session: str, index: int) -> float:
        """Seconds from pressing `key`, which ended at `index` of the session's text, to the next key."""
        rng = random.Random(f"{self.seed}/{session}/{index}")
        draw = _middle if self.kind == "constant" else rng.uniform
        ms = draw(*self.key_ms)
        last = key.rstrip(" \t")[-1:]
        if last == "\n":
            ms += draw(*self.line_end_ms)
            if self.kind == "human" and rng.random() < self.long_stop_share:
                ms += rng.uniform(*self.long_stop_ms)
        elif last and last in THINK_AFTER:
            ms += draw(*self.think_ms)
        return ms / 1000 / self.speed


def _middle(low: float, high: float) -> float:
    return (low + high) / 2


def next_key(text: str, index: int) -> str:
    """The keystroke that types `text` from `index` on: one character, or a line break
    with the next line's indentation."""
    if text.startswith("\r\n", index):
        end = index + 2
    elif text[index] in "\r\n":
        end = index + 1
    else:
        return text[index]
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[index:end]


def keystrokes(text: str) -> list[str]:
    keys, i = [], 0
    while i < len(text):
        keys.append(next_key(text, i))
        i += len(keys[-1])
    return keys
