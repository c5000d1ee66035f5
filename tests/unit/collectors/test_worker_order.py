"""The worker pool stores what the UDP workers parsed in the order the kernel queued it:
batches are numbered when taken and put back in that order, whichever worker finishes first."""

from __future__ import annotations

import os
import socket

from hypothesis import given
from hypothesis import strategies as st

from collectors.common.udp import BatchReceiver
from collectors.common.workers import BATCH_NUMBER, BatchOrder, Turn, TurnSlots


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


def test_a_batch_lost_with_its_worker_is_skipped_and_the_rest_goes_on() -> None:
    # Issue 9 item 6: a dead worker leaves a gap that would hold every later batch back.
    order = BatchOrder()
    assert texts(order.arrived(0, batch(0))) == ["batch 0"]
    assert order.arrived(2, batch(2)) == []
    assert order.arrived(3, batch(3)) == []
    assert not order.seen(1) and order.seen(2) and order.seen(0)
    assert texts(order.skip(1)) == ["batch 2", "batch 3"]
    assert order.waiting == 0 and order.highest == 3
    assert order.arrived(1, batch(1)) == []  # never handed out twice


def test_turn_slots_say_what_a_worker_holds_at_each_step() -> None:
    slots = TurnSlots.create(2)
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, BATCH_NUMBER.pack(7))
        turn = Turn(read_fd, write_fd, TurnSlots(slots.fd, 2), index=1)
        assert slots.read(1) == (-1, -1, 0, 0)
        assert turn.take() == 7
        assert slots.read(1) == (7, -1, 0, 0)  # died now: the token died too
        turn.parsing(7, 512, 40_000)
        assert slots.read(1) == (7, 7, 512, 40_000)
        turn.give(8)
        assert slots.read(1) == (-1, 7, 512, 40_000)  # died now: batch 7 lost, the token lives
        turn.parsed()
        assert slots.read(1)[:2] == (-1, -1)
        assert slots.read(0) == (-1, -1, 0, 0)  # the other worker's slot untouched
    finally:
        os.close(read_fd)
        os.close(write_fd)
        slots.close()


def test_a_second_batch_under_a_used_number_is_handed_out_not_dropped() -> None:
    # A turn token put back for a dead worker while a sibling held the first gives two batches
    # one number: the later one is out of order, but its records are not lost unaccounted.
    order = BatchOrder()
    assert texts(order.arrived(0, batch(0))) == ["batch 0"]
    assert texts(order.arrived(0, batch(0))) == ["batch 0"]
    assert order.arrived(2, batch(2)) == []
    assert texts(order.arrived(2, batch(2))) == ["batch 2"]  # the first still waits for batch 1
    assert texts(order.arrived(1, batch(1))) == ["batch 1", "batch 2"]
    assert order.duplicates == 2


def test_the_pool_counts_what_a_receive_took_until_the_worker_reported_it() -> None:
    """A worker killed inside recvmmsg dies before it can say how many datagrams the kernel
    gave it. Its receive headers live in the slots' shared memory, where the kernel writes each
    datagram's length as it dequeues it: the pool reads the count there."""
    slots = TurnSlots.create(2)
    worker_view = TurnSlots(slots.fd, 2)  # the worker's own mapping of the same memfd
    read_fd, write_fd = os.pipe()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver_sock.bind(("127.0.0.1", 0))
        turn = Turn(read_fd, write_fd, worker_view, index=1)
        headers = turn.headers()
        assert headers is not None
        receiver = BatchReceiver(receiver_sock, batch=64, timeout_s=1.0, headers=headers)
        assert slots.receiving(1) == (0, 0)  # a fresh slot: nothing taken
        for size in (10, 200, 0, 1500):
            sender.sendto(b"x" * size, receiver_sock.getsockname())
        seen_by_pool: list[tuple[int, int]] = []
        datagrams, _ = receiver.receive(True, lambda count, size: seen_by_pool.append(slots.receiving(1)))
        while len(datagrams) < 4:  # loopback delivers at once, but not necessarily in one call
            more, _ = receiver.receive(True, lambda count, size: seen_by_pool.append(slots.receiving(1)))
            datagrams += more
        # Had the worker died before reporting, the pool would have counted exactly these...
        assert sum(count for count, _ in seen_by_pool) == 4
        assert sum(size for _, size in seen_by_pool) == 1710
        # ...and once reported (then accounted with the batch, if it dies), they are not counted again.
        assert slots.receiving(1) == (0, 0)
        assert slots.receiving(0) == (0, 0)
    finally:
        sender.close()
        receiver_sock.close()
        os.close(read_fd)
        os.close(write_fd)
