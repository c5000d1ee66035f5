"""Counter deltas, wraps and device restarts (sans-IO)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.snmppoll.counters import CounterMemory, counter_delta, restarted
from collectors.snmptrap.ber import COUNTER32, COUNTER64

U32 = st.integers(0, 2**32 - 1)


def test_a_counter32_that_went_down_wrapped_once() -> None:
    assert counter_delta(2**32 - 100, 50, COUNTER32) == 150
    assert counter_delta(100, 250, COUNTER32) == 150


def test_a_counter64_that_went_down_was_reset_and_gives_no_delta() -> None:
    assert counter_delta(2**40, 5, COUNTER64) is None
    assert counter_delta(5, 2**40, COUNTER64) == 2**40 - 5


@given(U32, st.integers(0, 2**32 - 1))
def test_counter32_deltas_are_the_growth_modulo_2_to_the_32(previous: int, growth: int) -> None:
    current = (previous + growth) % 2**32
    assert counter_delta(previous, current, COUNTER32) == growth


def test_restart_seen_when_uptime_goes_back_or_grows_less_than_the_wall_clock() -> None:
    assert restarted(500_000, 1_000, 60.0)  # went back
    assert restarted(1_000, 2_000, 60.0)  # 10 s of uptime in 60 s of wall time: it rebooted after the last poll
    assert not restarted(1_000, 7_000, 60.0)
    assert not restarted(1_000, 6_100, 60.0)  # an agent answering from a few seconds' cache
    assert not restarted(None, 100, 60.0)


def test_rates_come_from_the_previous_sample_and_skip_a_restart() -> None:
    memory = CounterMemory()
    memory.begin(1000.0, 10_000)
    assert memory.rate("x", 1_000, COUNTER32) is None  # no previous sample
    memory.commit()
    memory.begin(1010.0, 11_000)
    assert memory.rate("x", 2_000, COUNTER32) == 100.0
    memory.commit()
    memory.begin(1020.0, 12_000)
    assert memory.rate("x", 500, COUNTER32) == (500 + 2**32 - 2_000) / 10  # wrapped
    memory.commit()
    memory.begin(1030.0, 300)  # rebooted: counters restarted from zero
    assert memory.restart_seen
    assert memory.rate("x", 700, COUNTER32) is None
    memory.commit()
    memory.begin(1040.0, 1_300)
    assert not memory.restart_seen
    assert memory.rate("x", 1_700, COUNTER32) == 100.0


def test_a_counter_missing_from_one_sample_starts_over() -> None:
    memory = CounterMemory()
    memory.begin(0.0, None)
    memory.rate("a", 10, COUNTER64)
    memory.commit()
    memory.begin(10.0, None)
    memory.commit()  # "a" not read this time
    memory.begin(20.0, None)
    assert memory.rate("a", 30, COUNTER64) is None
