"""The sink decision: states people see, backoff, the breaker, Retry-After."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from nocraven.forward.health import Backoff, SinkHealth, SinkState, worst


def test_a_sink_that_cannot_connect_is_buffering_with_the_reason_and_retries_later() -> None:
    health = SinkHealth(rng=random.Random(1))
    assert health.may_connect(0.0)
    health.connect_failed("NATS nats://10.8.0.1:4222 unreachable: connection refused", 0.0)
    decision = health.decide(backlog=True)
    assert decision.state is SinkState.BUFFERING and "connection refused" in decision.reason
    assert not health.may_connect(0.1)
    assert health.wake_at() is not None
    assert health.may_connect(health.wake_at() or 0)
    health.connected_ok()
    assert health.decide(backlog=True).state is SinkState.DRAINING
    assert health.decide(backlog=False).state is SinkState.FORWARDING


def test_the_vpn_gates_a_sink_that_requires_it() -> None:
    health = SinkHealth(requires_vpn=True)
    assert not health.may_connect(0)
    assert health.decide(False).state is SinkState.BUFFERING
    assert "VPN" in health.decide(False).reason
    health.vpn(True)
    assert health.may_connect(0)
    health.connected_ok()
    assert health.may_send(0)
    health.vpn(False)
    assert not health.may_send(0)


def test_pause_wins_over_everything() -> None:
    health = SinkHealth()
    health.connected_ok()
    health.pause()
    assert health.decide(True).state is SinkState.PAUSED and not health.may_send(0)
    health.resume()
    assert health.may_send(0)


def test_repeated_failures_open_the_breaker_and_one_trial_closes_it() -> None:
    health = SinkHealth(rng=random.Random(2), breaker_threshold=3)
    health.connected_ok()
    now = 0.0
    for _ in range(3):
        assert health.may_send(now)
        health.failed("gateway answered 500", now)
        now = health.wake_at() or now
    assert health.decide(False).state is SinkState.FAILING
    assert health.decide(False).reason == "gateway answered 500"
    opened_until = health.breaker.open_until
    assert opened_until is not None and not health.may_send(opened_until - 0.01)
    assert health.may_send(opened_until)  # half-open: one trial
    health.failed("gateway answered 500", opened_until)
    assert health.breaker.is_open  # the trial failed: open again
    assert health.may_send(health.breaker.open_until or 0)
    health.delivered()
    assert health.decide(False).state is SinkState.FORWARDING
    assert health.error == "gateway answered 500"  # kept for status as last_error


def test_retry_after_is_honoured_exactly() -> None:
    health = SinkHealth(rng=random.Random(3))
    health.connected_ok()
    health.failed("429", 100.0, retry_after=7.0)
    assert not health.may_send(106.9)
    assert health.may_send(107.0)


@given(st.integers(0, 200), st.integers(0, 2**32))
def test_backoff_grows_then_caps_with_jitter_inside_half_to_full(attempt, seed) -> None:
    backoff = Backoff(base_s=0.5, cap_s=60.0)
    delay = backoff.delay(attempt, random.Random(seed))
    ceiling = min(60.0, 0.5 * 2**attempt)
    assert ceiling / 2 <= delay <= ceiling


def test_worst_state_orders_failing_first() -> None:
    assert worst([SinkState.FORWARDING, SinkState.PAUSED, SinkState.DRAINING]) is SinkState.PAUSED
    assert worst([SinkState.BUFFERING, SinkState.FAILING]) is SinkState.FAILING
    assert worst([]) is None


def test_the_path_stays_open_through_retries_and_closes_when_the_path_drops() -> None:
    health = SinkHealth(requires_vpn=True, rng=random.Random(4), breaker_threshold=1)
    assert not health.path_open()
    health.vpn(True)
    health.connected_ok()
    assert health.path_open()
    health.failed("gateway answered 500", 0.0)
    assert health.breaker.is_open and health.path_open()  # failing, not a path change
    assert not health.may_send(0.0)
    health.disconnected("connection reset", 1.0)
    assert not health.path_open()
    health.connected_ok()
    health.pause()
    assert not health.path_open()


def test_a_lost_tunnel_drops_the_connection_of_a_sink_that_requires_it_and_reconnects_at_once() -> None:
    health = SinkHealth(requires_vpn=True)
    assert health.vpn(True) is False
    health.connected_ok()
    assert health.vpn(False) is True, "its connection ran through the tunnel that went down"
    assert not health.connected and not health.may_connect(10.0)
    assert "VPN" in health.decide(backlog=True).reason
    assert health.vpn(False) is False  # told again: nothing more to drop
    health.vpn(True)
    assert health.may_connect(10.0), "no backoff: losing the tunnel is not the sink's failure"


def test_a_sink_without_requires_vpn_keeps_its_connection_when_the_tunnel_drops() -> None:
    health = SinkHealth(requires_vpn=False)
    health.vpn(True)
    health.connected_ok()
    assert health.vpn(False) is False
    assert health.connected
