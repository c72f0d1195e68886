"""The unbiased pass@k estimator (Chen et al. 2021) of codefill.jobs.evaluation.passk."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from codefill.jobs.evaluation.passk import mean_pass_at_k, pass_at_k


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """1 - C(n-c, k) / C(n, k) in exact arithmetic (math.comb is 0 when n-c < k)."""
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@pytest.mark.parametrize("n,c,k,expected", [
    (1, 1, 1, 1.0),
    (1, 0, 1, 0.0),
    (4, 2, 1, 0.5),
    (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
    (10, 3, 1, 0.3),
    (10, 3, 5, 11 / 12),  # 1 - C(7,5)/C(10,5) = 1 - 21/252
    (20, 1, 10, 0.5),  # one correct sample in 20: half of all 10-subsets hold it
])
def test_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_the_fraction_correct():
    for n in (1, 5, 200):
        for c in range(n + 1):
            assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)


def test_matches_exact_binomials_on_a_grid():
    for n in range(1, 21):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12)


def test_edge_cases():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 0, 10) == 0.0  # c = 0: never
    assert pass_at_k(10, 10, 1) == 1.0 and pass_at_k(10, 10, 7) == 1.0  # c = n: always
    # n - c < k: every k-subset holds a correct sample
    assert pass_at_k(5, 3, 3) == 1.0 and pass_at_k(4, 2, 4) == 1.0 and pass_at_k(10, 1, 10) == 1.0
    assert pass_at_k(5, 2, 3) < 1.0  # n - c == k: not yet certain


def test_large_sample_counts_stay_finite_and_exact():
    # C(200, 100) ~ 9e58: the product form needs no big binomials
    for c, k in ((1, 100), (100, 100), (3, 50), (199, 1)):
        got = pass_at_k(200, c, k)
        assert math.isfinite(got) and got == pytest.approx(float(exact_pass_at_k(200, c, k)), rel=1e-9)


@pytest.mark.parametrize("n,c,k", [(0, 0, 1), (4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_over_problems():
    assert mean_pass_at_k([(4, 2), (4, 4), (4, 0)], 1) == pytest.approx((0.5 + 1 + 0) / 3)
    assert mean_pass_at_k([(4, 2), (4, 4)], 2) == pytest.approx((5 / 6 + 1) / 2)
    assert mean_pass_at_k([], 1) == 0.0
