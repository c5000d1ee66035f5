"""Repeated log lines are rate-limited: the first is logged, the rest counted and reported."""

from __future__ import annotations

from collectors.common.logthrottle import LogThrottle


def test_the_first_line_passes_repeats_are_counted_and_reported_once() -> None:
    throttle = LogThrottle(interval_s=10)
    assert throttle.allow("accept: EMFILE", now=0) == 0
    assert [throttle.allow("accept: EMFILE", now=t / 10_000) for t in range(1, 24_536)] == [None] * 24_535
    assert throttle.allow("other kind", now=1) == 0  # kinds are limited separately
    assert throttle.held_back(now=5) == []
    assert throttle.held_back(now=10) == [("accept: EMFILE", 24_535)]
    assert throttle.held_back(now=30) == []


def test_a_line_after_the_interval_carries_the_count_held_back() -> None:
    throttle = LogThrottle(interval_s=10)
    throttle.allow("refused", now=0)
    throttle.allow("refused", now=1)
    throttle.allow("refused", now=2)
    assert throttle.allow("refused", now=11) == 2
    assert throttle.allow("refused", now=12) is None


def test_memory_is_bounded_by_the_number_of_kinds() -> None:
    throttle = LogThrottle(interval_s=10, max_kinds=5)
    for i in range(100):
        assert throttle.allow(f"kind {i}", now=0) == 0
    assert len(throttle._kinds) <= 5
