"""Whether a count is significantly above another: the exact test for two Poisson counts.

Given counts `current` and `before` over periods of exposures `t1` and `t0`, and
conditioned on their total n, `current` is Binomial(n, t1 / (t0 + t1)) if the two rates
are equal. The one-sided p-value is the chance of `current` or more under that (the
conditional binomial test; Przyborowski and Wilenski 1940). It is exact for any counts,
so a coordinator hears "burglary is up: 14 against 5" only when chance is an unlikely
explanation, and never for 2 against 0. Computed in log space, so that large counts
neither overflow nor underflow; tests check it against scipy's binomtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.05  # the significance level stats report against


@dataclass(frozen=True)
class Comparison:
    current: int
    before: int
    p_value: float
    rising: bool  # significantly above, at `level`


def _log_pmf(k: int, n: int, log_p: float, log_q: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * log_p
        + (n - k) * log_q
    )


def upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [_log_pmf(i, n, log_p, log_q) for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def compare(
    current: int, before: int, exposure_ratio: float = 1.0, level: float = LEVEL
) -> Comparison:
    """Is `current` significantly above `before`? `exposure_ratio` is the current period's
    length over the earlier one's (1 for equal periods)."""
    if current < 0 or before < 0:
        raise ValueError("counts are never negative")
    if exposure_ratio <= 0:
        raise ValueError("a period has a positive length")
    n = current + before
    p_value = upper_tail(current, n, exposure_ratio / (1 + exposure_ratio)) if n else 1.0
    return Comparison(current, before, p_value, p_value < level)
