"""Batches are cut only on durable facts, so a replay after a crash rebuilds the same ones."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from nocraven.forward.batching import (
    Encoder,
    SeqRange,
    cut,
    decode_payload,
    make_batch,
    message_id,
    plan,
    split_by_bytes,
)


@dataclass(frozen=True)
class Seg:
    first_seq: int
    last_seq: int


def segments_from(sizes: list[int], evicted: set[int]) -> list[Seg]:
    segs, at = [], 0
    for index, size in enumerate(sizes):
        if index not in evicted:
            segs.append(Seg(at + 1, at + size))
        at += size
    return segs


sizes_st = st.lists(st.integers(1, 400), min_size=1, max_size=25)


def plan_all(position: int, segs: list[Seg], until: int, grid: int, page: int) -> tuple[list[SeqRange], list[SeqRange]]:
    """Plan the way the forwarder does: a page of segment rows at a time."""
    batches: list[SeqRange] = []
    lost: list[SeqRange] = []
    for _ in range(1000):
        after = [s for s in segs if s.last_seq > position][:page]
        step = plan(position, after, until, grid, complete=len(after) < page)
        batches += step.batches
        lost += step.lost
        if step.position == position:
            break
        position = step.position
    return batches, lost


@given(sizes_st, st.integers(1, 300), st.integers(1, 5), st.data())
def test_a_replay_from_any_acknowledged_batch_rebuilds_the_same_batches(sizes, grid, page, data) -> None:
    segs = segments_from(sizes, set())
    until = sum(sizes)
    batches, lost = plan_all(0, segs, until, grid, page)
    assert not lost
    # Batches tile 1..until exactly, never cross a segment or a grid line.
    assert batches[0].first == 1 and batches[-1].last == until
    assert all(b.first == a.last + 1 for a, b in itertools.pairwise(batches))
    for batch in batches:
        assert (batch.first - 1) // grid == (batch.last - 1) // grid
        assert any(s.first_seq <= batch.first and batch.last <= s.last_seq for s in segs)
    crash_after = data.draw(st.integers(0, len(batches) - 1))
    replayed, _ = plan_all(batches[crash_after].last, segs, until, grid, page)
    assert replayed == batches[crash_after + 1 :]


@given(sizes_st, st.integers(1, 300), st.data())
def test_batches_planned_as_segments_arrive_equal_those_planned_at_once(sizes, grid, data) -> None:
    segs = segments_from(sizes, set())
    at_once, _ = plan_all(0, segs, sum(sizes), grid, 8)
    live: list[SeqRange] = []
    position = 0
    for count in sorted(set([*data.draw(st.lists(st.integers(1, len(segs)), max_size=6)), len(segs)])):
        sealed = segs[:count]
        step, _ = plan_all(position, sealed, sealed[-1].last_seq, grid, 8)
        live += step
        position = sealed[-1].last_seq
    assert live == at_once


@given(sizes_st, st.data())
def test_evicted_segments_are_reported_lost_and_stepped_over(sizes, data) -> None:
    evicted = set(data.draw(st.lists(st.integers(0, len(sizes) - 1), max_size=len(sizes))))
    segs = segments_from(sizes, evicted)
    until = sum(sizes)
    batches, lost = plan_all(0, segs, until, 50, 3)
    covered = sorted([*batches, *lost], key=lambda r: r.first)
    assert covered[0].first == 1 and covered[-1].last == until
    assert all(b.first == a.last + 1 for a, b in itertools.pairwise(covered))
    assert sum(r.records for r in lost) == sum(size for i, size in enumerate(sizes) if i in evicted)


def test_a_stale_until_never_cuts_a_segment() -> None:
    # A segment sealed after `until` was read is left for the next plan, not split or lost.
    step = plan(0, [Seg(1, 10), Seg(11, 20)], 15, 100, complete=True)
    assert step.batches == [SeqRange(1, 10)] and not step.lost and step.position == 10


def test_cut_follows_the_fixed_grid() -> None:
    assert cut(7, 25, 10) == [SeqRange(7, 10), SeqRange(11, 20), SeqRange(21, 25)]


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=60), st.integers(16, 1000), st.integers(1, 10**6))
def test_byte_split_is_greedy_and_restartable(records, max_bytes, first_seq) -> None:
    pieces = split_by_bytes(records, first_seq, max_bytes)
    assert [r for _, piece in pieces for r in piece] == records
    for start, piece in pieces:
        assert len(piece) == 1 or sum(len(r) + 1 for r in piece) <= max_bytes
        # Re-split from a piece's start (a retry of that piece): the same pieces follow.
        offset = start - first_seq
        assert split_by_bytes(records[offset:], start, max_bytes) == [p for p in pieces if p[0] >= start]


@given(st.lists(st.binary(min_size=1, max_size=80).filter(lambda b: b"\n" not in b), min_size=1, max_size=50))
def test_payload_round_trips_in_every_encoding(records) -> None:
    batch = make_batch("arena-01", "syslog", 41, records)
    for compression in ("zstd", "gzip", "none"):
        encoder = Encoder(compression)
        headers = encoder.headers(batch)
        assert decode_payload(encoder.payload(batch), headers.get("Content-Encoding")) == records
        assert headers["Nocraven-Records"] == str(len(records))
    assert batch.message_id == message_id("arena-01", "syslog", 41, 40 + len(records))
    assert batch.message_id == f"arena-01.syslog.41-{40 + len(records)}"
