"""Sans-IO decisions: RTT statistics, the ping schedule, the mtr hop table and the throughput meter."""

from __future__ import annotations

import math
import socket
import statistics
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nocraven.diag.bandwidth import ThroughputMeter
from nocraven.diag.ping import EchoSchedule
from nocraven.diag.sockets import SO_TIMESTAMPNS, arrival_from_ancillary
from nocraven.diag.stats import RttStats
from nocraven.diag.trace import HopTable, cycle_complete, probe_id, probe_of, queued_probe_identity, round_trip_ms


@given(st.lists(st.floats(0.01, 5000), min_size=1, max_size=50), st.integers(0, 20))
def test_rtt_stats_agree_with_the_statistics_module(samples: list[float], lost: int) -> None:
    stats = RttStats()
    for rtt in samples:
        stats.answered(rtt)
    for _ in range(lost):
        stats.lost()
    assert (stats.sent, stats.received) == (len(samples) + lost, len(samples))
    assert stats.best_ms == min(samples) and stats.worst_ms == max(samples) and stats.last_ms == samples[-1]
    assert stats.avg_ms is not None and math.isclose(stats.avg_ms, statistics.fmean(samples), rel_tol=1e-9)
    assert stats.stddev_ms is not None
    assert math.isclose(stats.stddev_ms, statistics.pstdev(samples), rel_tol=1e-6, abs_tol=1e-9)
    assert stats.loss_pct == round(100 * lost / (len(samples) + lost), 2)


def test_no_replies_means_full_loss_and_no_rtts() -> None:
    stats = RttStats()
    stats.lost()
    stats.lost()
    assert (stats.loss_pct, stats.avg_ms, stats.stddev_ms, stats.best_ms) == (100.0, None, None, None)
    assert RttStats().loss_pct == 0.0


def test_echo_schedule_paces_sends_and_times_out() -> None:
    schedule = EchoSchedule(count=3, interval=1.0, timeout=2.0, started=100.0)
    assert schedule.due(100.0) == 1
    assert schedule.due(100.5) is None  # the next is due one interval after the first
    assert schedule.next_wakeup(100.5) == pytest.approx(0.5)
    assert schedule.due(101.0) == 2
    assert schedule.answered(2, 101.25) == pytest.approx(250.0)
    assert schedule.answered(2, 101.3) is None  # a duplicate is not counted twice
    assert schedule.due(102.0) == 3
    assert schedule.expired(101.9) == []
    assert schedule.expired(102.0) == [1]  # sent at 100.0, no reply within 2 s
    assert not schedule.finished
    assert schedule.answered(1, 102.1) is None  # a late reply for a probe already given up
    assert schedule.answered(3, 102.01) == pytest.approx(10.0)
    assert schedule.finished
    assert (schedule.stats.sent, schedule.stats.received, schedule.stats.loss_pct) == (3, 2, 33.33)


def test_probe_ids_name_cycle_and_ttl() -> None:
    for cycle in (1, 2, 100):
        for ttl in (1, 30, 64):
            assert probe_of(probe_id(cycle, ttl)) == (cycle, ttl)


def test_hop_table_finds_the_destination_and_drops_hops_beyond_it() -> None:
    table = HopTable(destination="198.51.100.9", max_hops=30)
    answers = {1: ("10.0.0.1", 1.0), 3: ("198.51.100.9", 5.0), 4: ("198.51.100.9", 5.1), 5: ("198.51.100.9", 5.2)}
    settled = table.settle(list(range(1, 31)), answers)
    assert settled == [1, 2, 3]  # probes past the destination say nothing about the path
    assert table.reached_at == 3 and table.limit == 3
    table.settle([1, 2, 3], {1: ("10.0.0.1", 3.0), 2: ("10.0.1.1", 2.0), 3: ("198.51.100.9", 7.0)})
    first, second, third = (table.hop(ttl, {"10.0.0.1": "gw.example"}) for ttl in (1, 2, 3))
    assert (first.name, first.sent, first.received, first.best_ms, first.worst_ms, first.avg_ms) == (
        "gw.example",
        2,
        2,
        1.0,
        3.0,
        2.0,
    )
    assert (second.address, second.loss_pct) == ("10.0.1.1", 50.0)
    assert third.destination and not first.destination
    assert [hop.hop for hop in table.summary_hops({})] == [1, 2, 3]


def test_hop_table_shows_where_a_cut_path_ends() -> None:
    table = HopTable(destination="198.51.100.9", max_hops=10)
    for _ in range(3):
        table.settle(list(range(1, 11)), {1: ("10.0.0.1", 1.0), 2: ("10.0.1.1", 2.0)})
    assert table.reached_at is None and table.last_answering_hop == 2
    hops = table.summary_hops({})
    assert [(hop.hop, hop.address, hop.loss_pct) for hop in hops] == [
        (1, "10.0.0.1", 0.0),
        (2, "10.0.1.1", 0.0),
        (3, None, 100.0),  # one silent hop past the last answer shows where it stops
    ]


def test_throughput_meter_bounds_bytes_and_time() -> None:
    meter = ThroughputMeter(started=10.0, max_bytes=1000, max_seconds=2.0, progress_every=0.5)
    meter.add(400)
    assert meter.stop_reason(10.1) is None
    assert not meter.progress_due(10.4)
    assert meter.progress_due(10.5)
    assert not meter.progress_due(10.6)  # the next report is another half second away
    assert meter.bits_per_second(10.5) == pytest.approx(400 * 8 / 0.5)
    assert meter.stop_reason(12.0) == "time_limit"
    meter.add(600)
    assert meter.stop_reason(10.7) == "byte_limit"


def test_error_queue_entries_name_their_probe() -> None:
    # UDP: the destination port the probe went to, less the first port.
    assert queued_probe_identity(True, b"payload", 33434 + 65, 33434, v6=False) == 65
    assert queued_probe_identity(True, b"", None, 33434, v6=False) is None
    # ICMP: our own echo request comes back as the entry's data; its seq is the probe id.
    request = struct.pack("!BBHHH", 8, 0, 0, 999, 130)
    assert queued_probe_identity(False, request, None, 33434, v6=False) == 130
    assert queued_probe_identity(False, struct.pack("!BBHHH", 128, 0, 0, 1, 7), None, 0, v6=True) == 7
    assert queued_probe_identity(False, struct.pack("!BBHHH", 0, 0, 0, 1, 7), None, 0, v6=False) is None
    assert queued_probe_identity(False, b"\x08\x00", None, 0, v6=False) is None


def test_a_cycle_is_complete_once_every_hop_to_the_destination_answered() -> None:
    sent = {ttl: 0.0 for ttl in range(1, 6)}
    assert not cycle_complete(sent, {1: ("gw", 1.0)}, "dst")
    # Hops past the destination's first answer are not waited for.
    assert cycle_complete(sent, {1: ("gw", 1.0), 2: ("dst", 2.0), 4: ("dst", 2.0)}, "dst")
    assert not cycle_complete(sent, {2: ("dst", 2.0)}, "dst")  # hop 1 still owes its answer
    assert cycle_complete(sent, {ttl: ("r", 1.0) for ttl in range(1, 6)}, "dst")


def test_round_trips_prefer_the_kernel_arrival_stamp() -> None:
    # Sent at wall 1000.0 (monotonic 5.0); the kernel saw the reply 2 ms later; we read it 50 ms later.
    assert round_trip_ms(5.0, 5.05, 1000.0, 1000.002) == pytest.approx(2.0)
    assert round_trip_ms(5.0, 5.05, 1000.0, None) == pytest.approx(50.0)
    assert round_trip_ms(5.0, 5.05, 1000.0, 999.0) == pytest.approx(50.0)  # the wall clock stepped back


def test_kernel_timestamp_control_message() -> None:
    stamp = struct.pack("@qq", 1_700_000_000, 250_000_000)
    assert arrival_from_ancillary([(socket.SOL_SOCKET, SO_TIMESTAMPNS, stamp)]) == pytest.approx(1_700_000_000.25)
    assert arrival_from_ancillary([(socket.IPPROTO_IP, 2, b"\x40\x00\x00\x00")]) is None
    assert arrival_from_ancillary([(socket.SOL_SOCKET, SO_TIMESTAMPNS, b"\x00")]) is None
