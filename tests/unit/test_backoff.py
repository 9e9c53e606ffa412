"""Retry delays grow exponentially from the base, stop at the cap, and are spread by +-20 %."""

from __future__ import annotations

import statistics

import pytest

from calibd.backoff import backoff_delay, jittered


@pytest.mark.parametrize(
    ("attempt", "nominal"), [(0, 1.0), (1, 1.0), (2, 2.0), (4, 8.0), (9, 60.0)]
)
def test_delay_is_exponential_capped_and_within_the_jitter(attempt, nominal):
    delays = [backoff_delay(attempt, base=1.0, cap=60.0) for _ in range(2000)]
    assert min(delays) >= 0.8 * nominal
    assert max(delays) <= 1.2 * nominal
    assert statistics.fmean(delays) == pytest.approx(nominal, rel=0.03)
    assert statistics.pstdev(delays) > 0.05 * nominal  # spread: retriers do not wake together


def test_a_huge_attempt_number_stays_at_the_cap():
    assert backoff_delay(10_000, base=0.5, cap=30.0) <= 36.0


def test_jittered_keeps_zero_at_zero():
    assert jittered(0.0) == 0.0
