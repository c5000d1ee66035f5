"""The collector process's pieces without a socket: the durable store (what it sends the engine,
and what a refusal becomes), the counters it reports (and that a plain Counters reader still
reads them), and the refused events it reports for the drop ledger."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from collectors.common.channel import FrameKind
from collectors.common.durable import TOKEN, Durability
from collectors.common.frames import Counters, PayloadDecoder, encode_payload
from collectors.winevents.agents import AgentBook
from collectors.winevents.report import MAX_SOURCES, AgentCounters, Traffic, WineventsCounters, source_ip
from collectors.winevents.server import StoreBusy
from collectors.winevents.service import DurableStore

RECORDS = [
    {"service": "winevent", "event_id": 4625, "message": "An account failed to log on.", "dialect": "nxlog"},
    {"service": "winevent", "event_id": 1102, "message": "The audit log was cleared.", "dialect": "vector"},
]
NDJSON = msgspec.json.Encoder().encode_lines(RECORDS)[:-1]


class Engine:
    """Stands in for the engine end of the channel: keeps the frames, answers as told."""

    def __init__(self, answer: bool | None) -> None:
        self.frames: list[tuple[FrameKind, bytes]] = []
        self.answer = answer
        self.received: list[int] = []
        self.durability = Durability(self.write)

    def write(self, kind: FrameKind, payload: bytes, *, received: int = 0) -> None:
        self.frames.append((kind, payload))
        self.received.append(received)
        if self.answer is not None:
            token = payload[: TOKEN.size]
            loop = asyncio.get_running_loop()
            loop.call_soon(self.durability.confirm, token + (b"\x01" if self.answer else b"\x00"))


async def test_store_sends_the_records_once_as_ndjson_and_returns_when_committed() -> None:
    engine = Engine(answer=True)
    await DurableStore(engine.durability, retry_after_s=5)(NDJSON, len(RECORDS))
    ((kind, payload),) = engine.frames
    assert kind == FrameKind.RECORDS_DURABLE
    ndjson = payload[TOKEN.size :]
    # The buffer takes the chunk whole only when it has no trailing or empty line.
    assert not ndjson.endswith(b"\n") and b"\n\n" not in ndjson
    assert [msgspec.json.decode(line) for line in ndjson.split(b"\n")] == RECORDS


async def test_store_sends_the_request_bodys_wire_bytes_with_the_records() -> None:
    engine = Engine(answer=True)
    await DurableStore(engine.durability, retry_after_s=5)(NDJSON, len(RECORDS), 4321)
    assert [kind for kind, _ in engine.frames] == [FrameKind.RECORDS_DURABLE]
    assert engine.received == [4321]


async def test_store_not_committed_is_busy_so_the_agent_retries() -> None:
    engine = Engine(answer=False)
    with pytest.raises(StoreBusy) as refused:
        await DurableStore(engine.durability, retry_after_s=9)(NDJSON, len(RECORDS))
    assert refused.value.retry_after_s == 9
    assert "could not store" in refused.value.reason


async def test_store_after_the_engine_went_away_is_busy_at_once() -> None:
    engine = Engine(answer=None)
    engine.durability.close()
    with pytest.raises(StoreBusy):
        await asyncio.wait_for(DurableStore(engine.durability, retry_after_s=5)(NDJSON, len(RECORDS)), 5)
    assert engine.frames == []


def test_counters_carry_agents_and_a_plain_reader_still_reads_the_common_part() -> None:
    book = AgentBook()
    dc01 = book.seen("dc01", "10.0.0.5:50000", 1000.0)
    dc01.events, dc01.security_events, dc01.last_dialect = 40, 3, "winlogbeat"
    book.error("(unauthenticated)", "10.0.0.9:1234", "bad token: it matches no token", 1001.0)
    traffic = Traffic()
    traffic.accepted("10.0.0.5:50000", 9000, {"winlogbeat": 40}, 2, 1000.0)
    traffic.refused("10.0.0.9:1234")
    payload = encode_payload(traffic.counters(book.counters(), busy_refusals=4, inflight=1, connections=2))

    own = PayloadDecoder(WineventsCounters).counters(payload)
    assert isinstance(own, WineventsCounters)
    assert own.agents["dc01"] == AgentCounters(
        requests=1,
        events=40,
        security_events=3,
        last_seen=1000.0,
        last_source="10.0.0.5:50000",
        last_dialect="winlogbeat",
    )
    assert own.agents["(unauthenticated)"].errors == 1
    assert own.busy_refusals == 4

    common = PayloadDecoder().counters(payload)
    assert type(common) is Counters
    listener = common.listeners["listen"]
    assert (listener.messages, listener.bytes, listener.rejected, listener.active_connections) == (40, 9000, 3, 2)
    assert common.sources["10.0.0.5"].formats == {"winlogbeat": 40}
    assert common.sources["10.0.0.5"].rejected == 2
    assert common.sources["10.0.0.9"].rejected == 1


def test_refused_events_go_to_the_ledger_once_per_sender_and_report() -> None:
    traffic = Traffic()
    traffic.accepted("10.0.0.5:50000", 100, {"nxlog": 8}, 2, 1000.0)
    traffic.accepted("10.0.0.5:50001", 100, {"nxlog": 8}, 1, 1002.0)
    traffic.accepted("10.0.0.6:50000", 100, {"nxlog": 8}, 0, 1003.0)
    (drop,) = traffic.take_drops()
    assert (drop.source, drop.reason, drop.detail) == ("10.0.0.5", "rejected_input", "unreadable_event")
    assert drop.records == 3
    assert (drop.first, drop.last) == (1000.0, 1002.0)
    assert traffic.take_drops() == []


def test_senders_beyond_the_limit_share_one_entry() -> None:
    traffic = Traffic(max_sources=2)
    for number in range(5):
        traffic.accepted(f"10.0.0.{number}:5000", 10, {"generic": 1}, 0, 1000.0)
    counters = traffic.counters({}, 0, 0, 0)
    assert set(counters.sources) == {"10.0.0.0", "10.0.0.1", "other"}
    assert counters.sources["other"].messages == 3
    assert MAX_SOURCES >= 100


@pytest.mark.parametrize(
    ("peer", "ip"),
    [("10.1.2.3:5000", "10.1.2.3"), ("[2001:db8::1]:443", "2001:db8::1"), ("unknown", "unknown")],
)
def test_source_ip(peer: str, ip: str) -> None:
    assert source_ip(peer) == ip
