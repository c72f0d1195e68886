"""The replay's typing rhythm: seeded, the same at the same place, pauses where people think."""

from __future__ import annotations

import pytest

from codefill.jobs.bench.replay.typist import Rhythm, keystrokes, next_key


def test_the_same_seed_gives_the_same_gaps_and_another_seed_others():
    a, b = Rhythm(seed=1), Rhythm(seed=2)
    gaps = [a.gap_s("x", "s", i) for i in range(50)]
    assert gaps == [Rhythm(seed=1).gap_s("x", "s", i) for i in range(50)]
    assert gaps != [b.gap_s("x", "s", i) for i in range(50)]
    # the gap belongs to the place in the text, not to how many were drawn before
    assert a.gap_s("x", "s", 7) == gaps[7]


def test_human_gaps_between_plain_keys_are_60_to_250_ms():
    gaps = [Rhythm(seed=0).gap_s("a", "s", i) for i in range(500)]
    assert 0.060 <= min(gaps) and max(gaps) <= 0.250
    assert max(gaps) - min(gaps) > 0.15  # spread over the range, not one value


def test_pauses_after_a_line_and_after_open_paren_dot_colon():
    r = Rhythm(seed=0)
    plain = max(r.gap_s("a", "s", i) for i in range(200))
    for key in ("(", ".", ":"):
        assert min(r.gap_s(key, "s", i) for i in range(200)) >= 0.26
    assert min(r.gap_s("\n    ", "s", i) for i in range(200)) > plain
    line_ends = [r.gap_s("\n", "s", i) for i in range(1000)]
    assert min(line_ends) >= 0.56
    assert 0.1 < sum(g > 2.05 for g in line_ends) / len(line_ends) < 0.3  # now and then a longer stop


def test_constant_rhythm_and_speed():
    c = Rhythm("constant")
    assert c.gap_s("a", "s", 0) == c.gap_s("b", "t", 9) == pytest.approx(0.155)
    assert c.gap_s("(", "s", 0) == pytest.approx(0.155 + 0.45)
    assert Rhythm("constant", speed=2).gap_s("\n", "s", 0) == pytest.approx((0.155 + 1.15) / 2)
    with pytest.raises(ValueError):
        Rhythm("robot")
    with pytest.raises(ValueError):
        Rhythm(speed=0)


def test_enter_and_the_indentation_after_it_are_one_keystroke():
    text = "if x:\n        return 1\nz"
    keys = keystrokes(text)
    assert "".join(keys) == text
    assert "\n        " in keys and "\n" in keys
    assert next_key("a\r\n  b", 1) == "\r\n  "
