"""The syslog collector's counters: what UDP workers report as deltas adds up, in the main
process, to what one process counting everything would report; drops become ledger entries."""

from __future__ import annotations

from collectors.common.frames import Counters, PayloadDecoder, encode_payload
from collectors.syslog.pipeline import Stats

NOW = 1_780_000_000.0


def count(stats: Stats, batch: int) -> None:
    senders = [f"192.0.2.{1 + (batch + i) % 3}:514" for i in range(4)]
    formats = ["rfc3164", "rfc5424", "rfc3164", "unparsed"]
    stats.received("udp", senders, formats, [100, 200, 300, 400], NOW + batch)
    if batch % 2:
        stats.rejected("udp", "198.51.100.7:9", 1, 80, "sender_not_allowed", NOW + batch)


def over_the_wire(counters: Counters) -> Counters:
    return PayloadDecoder().counters(encode_payload(counters))


def test_worker_deltas_add_up_to_what_one_process_would_count() -> None:
    alone, main = Stats(), Stats()
    workers = [Stats(), Stats()]
    for batch in range(10):
        count(alone, batch)
        count(workers[batch % 2], batch)
        if batch in (3, 7, 9):  # the workers report now and then, each its delta since the last
            for worker in workers:
                main.add(over_the_wire(worker.take()))
    assert main.snapshot() == alone.snapshot()
    totals = main.snapshot()
    assert totals.listeners["udp"].messages == 40
    assert totals.listeners["udp"].rejected == 5
    assert totals.sources["198.51.100.7"].rejected == 5
    assert sum(s.formats.get("rfc5424", 0) for s in totals.sources.values()) == 10


def test_take_starts_the_next_delta_from_zero() -> None:
    stats = Stats()
    count(stats, 0)
    assert stats.take().listeners["udp"].messages == 4
    assert stats.take() == Counters()


def test_refusals_are_reported_once_per_source_and_cause() -> None:
    stats = Stats()
    for batch in range(1, 6, 2):
        count(stats, batch)
    stats.rejected("udp", None, 7, 0, "kernel_drop", NOW + 9)
    drops = {(d.source, d.detail): d for d in stats.take_drops()}
    refused = drops[("198.51.100.7:9", "sender_not_allowed")]
    assert (refused.reason, refused.records, refused.bytes) == ("rejected_input", 3, 240)
    assert (refused.first, refused.last) == (NOW + 1, NOW + 5)
    assert drops[(None, "kernel_drop")].reason == "kernel_drop"
    assert stats.take_drops() == []
