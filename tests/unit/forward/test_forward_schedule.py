"""Live first, backlog fair between services and capped in bytes per second."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from nocraven.forward.lanes import Kind
from nocraven.forward.schedule import DrainMeter, Rotation, TokenBucket, pick, progress

SERVICES = ("syslog", "flow", "trap", "winevent")


def test_live_goes_before_any_backlog() -> None:
    live, backlog = Rotation(SERVICES), Rotation(SERVICES)
    bucket = TokenBucket(0, 0)
    assert pick(live, backlog, ["trap"], ["syslog", "flow"], bucket, 0) == ("trap", Kind.LIVE)
    assert pick(live, backlog, [], ["syslog", "flow"], bucket, 0) == ("syslog", Kind.BACKLOG)


@given(st.sets(st.sampled_from(SERVICES), min_size=1), st.integers(1, 50))
def test_backlog_turns_are_fair_between_services(ready, rounds) -> None:
    live, backlog = Rotation(SERVICES), Rotation(SERVICES)
    bucket = TokenBucket(0, 0)
    picked = Counter()
    for _ in range(rounds * len(ready)):
        choice = pick(live, backlog, [], ready, bucket, 0)
        assert choice is not None
        picked[choice[0]] += 1
    assert set(picked) == ready
    assert max(picked.values()) - min(picked.values()) == 0


def test_the_bucket_caps_backlog_bytes_per_second_but_never_live() -> None:
    live, backlog = Rotation(SERVICES), Rotation(SERVICES)
    bucket = TokenBucket(rate=1000, now=0.0)
    sent = 0
    now = 0.0
    while now < 10.0:
        choice = pick(live, backlog, [], ["syslog"], bucket, now)
        if choice is not None:
            bucket.take(300, now)
            sent += 300
        else:
            now += bucket.wait_s(now)
    assert 10_000 <= sent <= 10_000 + 1000 + 300  # rate x time, plus the first burst and one batch
    assert bucket.wait_s(now) >= 0
    # An empty bucket does not hold back live batches.
    bucket.take(10_000, now)
    assert pick(live, backlog, ["flow"], ["syslog"], bucket, now) == ("flow", Kind.LIVE)
    assert pick(live, backlog, [], ["syslog"], bucket, now) is None


def test_progress_gives_rate_and_time_to_empty() -> None:
    meter = DrainMeter(window_s=10)
    for second in range(10):
        meter.add(1000, float(second))
    rate = meter.rate(10.0)
    assert 900 <= rate <= 1100
    shown = progress(50_000, 5_000_000, 3.0, rate, 10.0)
    assert shown.oldest_age_s == 7.0
    assert shown.eta_s is not None and 45 <= shown.eta_s <= 56
    assert progress(0, 0, None, 0.0, 10.0).eta_s == 0.0
    assert progress(10, 100, 1.0, 0.0, 10.0).eta_s is None
    assert meter.rate(100.0) == 0.0
