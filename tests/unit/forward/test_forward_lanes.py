"""A lane's cursor moves only over what was delivered, whatever order deliveries finish in."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from nocraven.forward.batching import Plan, SeqRange
from nocraven.forward.lanes import Kind, Lane, RangeSet


@given(st.integers(0, 50), st.lists(st.tuples(st.integers(1, 120), st.integers(0, 15)), max_size=40))
def test_rangeset_floor_is_the_contiguous_prefix_of_what_was_added(floor, adds) -> None:
    ranges = RangeSet(floor)
    done = set(range(1, floor + 1))
    for first, length in adds:
        ranges.add(SeqRange(first, first + length))
        done |= set(range(first, first + length + 1))
        expected = 0
        while expected + 1 in done:
            expected += 1
        assert ranges.floor == expected
        assert ranges.count_above() == len({seq for seq in done if seq > expected})
        probe = SeqRange(first, first + length)
        assert ranges.covers(probe)


def feed(lane: Lane, kind: Kind, batches: list[SeqRange], position: int) -> None:
    lane.take_plan(kind, Plan(batches, [], position))


def test_out_of_order_deliveries_move_the_cursor_only_over_a_prefix() -> None:
    lane = Lane("syslog", 0)
    lane.rearm(30)
    feed(lane, Kind.BACKLOG, [SeqRange(1, 10), SeqRange(11, 20), SeqRange(21, 30)], 30)
    sent = [lane.next(Kind.BACKLOG) for _ in range(3)]
    assert sent == [SeqRange(1, 10), SeqRange(11, 20), SeqRange(21, 30)]
    assert lane.sent(SeqRange(21, 30)) == 0
    assert lane.sent(SeqRange(11, 20)) == 0
    assert lane.pending_records(30) == 10
    assert lane.sent(SeqRange(1, 10)) == 30
    assert not lane.draining()


def test_a_failed_batch_goes_again_before_anything_else() -> None:
    lane = Lane("flow", 0)
    lane.rearm(20)
    feed(lane, Kind.BACKLOG, [SeqRange(1, 10), SeqRange(11, 20)], 20)
    first = lane.next(Kind.BACKLOG)
    assert first is not None
    lane.failed(first)
    assert lane.has_retry()
    assert lane.next(Kind.LIVE) == SeqRange(1, 10)


def test_after_an_outage_live_records_are_not_sent_again_by_the_backlog() -> None:
    # Live 101..110 went out before the path dropped; records piled up to 150. On rearm the
    # backlog replans from the cursor and skips what live already delivered.
    lane = Lane("trap", 0)
    lane.rearm(100)
    feed(lane, Kind.LIVE, [SeqRange(101, 110)], 110)
    assert lane.next(Kind.LIVE) == SeqRange(101, 110)
    lane.sent(SeqRange(101, 110))
    assert lane.acked == 0
    lane.rearm(150)
    feed(lane, Kind.BACKLOG, [SeqRange(1, 100), SeqRange(101, 110), SeqRange(111, 150)], 150)
    order = []
    while (seqs := lane.next(Kind.BACKLOG)) is not None:
        order.append(seqs)
        lane.sent(seqs)
    assert order == [SeqRange(1, 100), SeqRange(111, 150)]
    assert lane.acked == 150
    assert lane.wants_plan(Kind.LIVE, 150) is None
    assert lane.wants_plan(Kind.LIVE, 160) == (150, 160)


def test_lost_ranges_count_as_done_for_the_cursor() -> None:
    lane = Lane("syslog", 0)
    lane.rearm(40)
    lane.take_plan(Kind.BACKLOG, Plan([SeqRange(21, 40)], [SeqRange(1, 20)], 40))
    assert lane.acked == 20


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_any_completion_order_ends_with_everything_acked(count, seed) -> None:
    rng = random.Random(seed)
    lane = Lane("syslog", 0)
    lane.rearm(count * 10)
    feed(lane, Kind.BACKLOG, [SeqRange(i * 10 + 1, i * 10 + 10) for i in range(count)], count * 10)
    flying = []
    while (seqs := lane.next(Kind.BACKLOG)) is not None:
        flying.append(seqs)
    while flying:
        seqs = flying.pop(rng.randrange(len(flying)))
        if rng.random() < 0.3:
            lane.failed(seqs)
            again = lane.next(Kind.LIVE)
            assert again is not None
            flying.append(again)
        else:
            lane.sent(seqs)
    assert lane.acked == count * 10
