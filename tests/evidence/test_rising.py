"""The rising test against scipy's exact binomial test, and cases that must not be flagged."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest  # type: ignore[import-untyped]

from app.evidence.rising import LEVEL, compare, upper_tail

CASES = [(14, 5), (5, 14), (0, 0), (1, 0), (2, 0), (3, 0), (5, 0), (6, 1), (10, 10), (30, 12),
         (250, 200), (1_200, 1_000), (4_000, 3_999), (0, 7)]  # fmt: skip


@pytest.mark.parametrize(("current", "before"), CASES)
def test_p_values_are_scipys(current: int, before: int) -> None:
    got = compare(current, before)
    n = current + before
    expected = binomtest(current, n, 0.5, alternative="greater").pvalue if n else 1.0
    assert got.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert got.rising == (expected < LEVEL)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 2.0, 13 / 4])
def test_unequal_periods_weigh_the_counts(ratio: float) -> None:
    got = compare(9, 4, exposure_ratio=ratio)
    expected = binomtest(9, 13, ratio / (1 + ratio), alternative="greater").pvalue
    assert got.p_value == pytest.approx(expected, rel=1e-9)


def test_what_a_coordinator_is_told() -> None:
    assert compare(14, 5).rising  # "burglary is up: 14 against 5" (p = 0.032)
    assert not compare(2, 0).rising  # two where there were none is chance (p = 0.25)
    assert not compare(4, 0).rising  # nor four (p = 0.0625); five would be (p = 0.031)
    assert compare(5, 0).rising
    assert not compare(10, 10).rising
    # Twice as long a period expects twice as many: 10 against 5 is then no rise.
    assert not compare(10, 5, exposure_ratio=2.0).rising


def test_large_counts_neither_overflow_nor_underflow() -> None:
    assert upper_tail(60_000, 100_000, 0.5) == pytest.approx(
        binomtest(60_000, 100_000, 0.5, alternative="greater").pvalue, abs=1e-300
    )
    assert compare(50_500, 49_500).p_value == pytest.approx(
        binomtest(50_500, 100_000, 0.5, alternative="greater").pvalue, rel=1e-7
    )


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        compare(-1, 3)
    with pytest.raises(ValueError, match="positive"):
        compare(1, 3, exposure_ratio=0)
