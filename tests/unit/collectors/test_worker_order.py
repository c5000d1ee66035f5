"""The worker pool stores what the UDP workers parsed in the order the kernel queued it:
batches are numbered when taken and put back in that order, whichever worker finishes first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.common.workers import BatchOrder


def batch(number: int) -> memoryview:
    return memoryview(f"batch {number}\n".encode())


def texts(batches: list[memoryview]) -> list[str]:
    return [bytes(b).decode().strip() for b in batches]


def test_batches_in_order_go_out_at_once() -> None:
    order = BatchOrder()
    assert texts(order.arrived(0, batch(0))) == ["batch 0"]
    assert texts(order.arrived(1, batch(1))) == ["batch 1"]
    assert order.waiting == 0


def test_a_batch_parsed_early_waits_for_the_one_before_it() -> None:
    order = BatchOrder()
    assert order.arrived(2, batch(2)) == []
    assert order.arrived(1, batch(1)) == []
    assert order.waiting == 2
    assert texts(order.arrived(0, batch(0))) == ["batch 0", "batch 1", "batch 2"]
    assert order.waiting == 0
    assert texts(order.arrived(3, batch(3))) == ["batch 3"]


def test_an_empty_batch_keeps_its_place_but_is_not_handed_out() -> None:
    order = BatchOrder()
    assert order.arrived(1, batch(1)) == []
    assert order.arrived(0, memoryview(b"")) == [batch(1)]
    assert order.next_number == 2


def test_drain_keeps_what_came_after_a_gap_in_order() -> None:
    order = BatchOrder()
    order.arrived(0, batch(0))
    order.arrived(4, batch(4))
    order.arrived(2, batch(2))
    order.arrived(3, memoryview(b""))  # batch 1 never comes: its worker was killed
    assert texts(order.drain()) == ["batch 2", "batch 4"]
    assert order.waiting == 0
    assert order.drain() == []


@given(st.data())
def test_any_arrival_order_gives_batch_order_as_soon_as_possible(data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=0, max_value=40))
    empty = data.draw(st.sets(st.integers(min_value=0, max_value=max(0, count - 1))))
    arrivals = data.draw(st.permutations(range(count)))
    order = BatchOrder()
    out: list[str] = []
    arrived: set[int] = set()
    for number in arrivals:
        out += texts(order.arrived(number, memoryview(b"") if number in empty else batch(number)))
        arrived.add(number)
        # Everything below the first batch still missing has gone out, and nothing above it.
        first_missing = next(n for n in range(count + 1) if n not in arrived)
        assert out == [f"batch {n}" for n in range(first_missing) if n not in empty]
    assert order.waiting == 0
    assert order.drain() == []
