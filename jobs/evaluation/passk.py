"""pass@k: the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language
Models Trained on Code", the Codex paper).

With ``n`` samples of a problem of which ``c`` pass, the probability that at
least one of ``k`` samples drawn without replacement passes is

    pass@k = 1 - C(n - c, k) / C(n, k)

The binomial coefficients overflow floats for the sample counts people use
(C(200, 100) ~ 9e58, and worse), so it is computed as the paper's numerically
stable product:

    C(n - c, k) / C(n, k) = prod_{i = n - c + 1}^{n} (1 - k / i)

A benchmark's pass@k is the mean of the per-problem estimates.
"""

from __future__ import annotations

from collections.abc import Iterable


def pass_at_k(n: int, c: int, k: int) -> float:
    """Estimated pass@k of one problem with `n` samples, `c` of them correct."""
    if n < 1:
        raise ValueError(f"pass@k needs at least one sample (n={n})")
    if not 0 <= c <= n:
        raise ValueError(f"correct samples must be between 0 and n={n} (c={c})")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n} (k={k})")
    if n - c < k:  # every draw of k samples holds at least one correct one
        return 1.0
    miss = 1.0  # probability that k samples drawn without replacement are all wrong
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as (n, c) pairs; 0.0 when there are none."""
    estimates = [pass_at_k(n, c, k) for n, c in counts]
    return sum(estimates) / len(estimates) if estimates else 0.0
