"""When INFORM acks may leave, and how many SNMPv3 Reports go out (sans-IO)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.snmptrap.acks import AckQueue, ReportLimit


def test_acks_leave_in_arrival_order_once_their_batch_and_all_before_are_committed() -> None:
    queue: AckQueue[str] = AckQueue()
    queue.add(1, ["a", "b"])
    queue.add(2, ["c"])
    queue.add(3, ["d"])
    assert queue.waiting() == 4
    # The engine commits in order: batch 2 on disk means batch 1 is too.
    assert queue.confirmed(2, stored=True) == ["a", "b", "c"]
    assert queue.confirmed(1, stored=True) == []  # already sent, never twice
    assert queue.confirmed(3, stored=True) == ["d"]
    assert queue.sent == 4 and queue.withheld == 0 and queue.waiting() == 0


def test_a_batch_the_engine_could_not_store_is_never_acknowledged() -> None:
    queue: AckQueue[str] = AckQueue()
    queue.add(1, ["a"])
    queue.add(2, ["b", "c"])
    assert queue.confirmed(1, stored=False) == []
    assert queue.confirmed(2, stored=True) == ["b", "c"]
    queue.add(3, ["d"])
    assert queue.abandon() == 1  # the engine went away
    assert queue.confirmed(3, stored=True) == []
    assert queue.sent == 2 and queue.withheld == 2


@given(st.lists(st.tuples(st.integers(1, 5), st.booleans()), max_size=30))
def test_every_ack_is_sent_at_most_once_and_only_in_order(answers: list[tuple[int, bool]]) -> None:
    queue: AckQueue[tuple[int, int]] = AckQueue()
    for batch in range(1, 6):
        queue.add(batch, [(batch, 0), (batch, 1)])
    sent: list[tuple[int, int]] = []
    for batch, stored in answers:
        sent += queue.confirmed(batch, stored)
    assert sent == sorted(sent) and len(set(sent)) == len(sent)
    assert queue.sent + queue.withheld + queue.waiting() == 10


def test_reports_are_rate_limited_with_a_burst() -> None:
    limit = ReportLimit(rate_per_s=4.0, burst=5)
    assert [limit.allow(100.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limit.allow(100.125) is False  # half a token back
    assert limit.allow(100.25) is True  # a whole one
    assert [limit.allow(200.0) for _ in range(6)].count(True) == 5  # refilled to the burst, no more
    assert limit.sent == 11 and limit.suppressed == 4


def test_a_clock_going_backwards_grants_nothing() -> None:
    limit = ReportLimit(rate_per_s=1.0, burst=1)
    assert limit.allow(50.0) is True
    assert limit.allow(10.0) is False
    assert limit.allow(50.5) is False
    assert limit.allow(51.0) is True
