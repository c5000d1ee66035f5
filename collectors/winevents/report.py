"""What the Windows event endpoint tells the engine: its counters as typed frames (sans-IO).

`WineventsCounters` is the COUNTERS payload of this collector: the common `Counters` (one
listener, `listen`, and the senders by IP address) plus the counters per agent (token name),
which `nocraven winevents agents` shows. The engine decodes it with this Struct; a decoder of
plain `Counters` reads the same bytes and ignores the agents, so the common summary (messages =
events stored) works unchanged.

`Traffic` counts what the endpoint saw per listener and per sender IP, and collects the events
it refused (unreadable in an otherwise good batch) for the drop ledger.
"""

from __future__ import annotations

from typing import Final

import msgspec

from collectors.common.frames import Counters, Drop, ListenerCounters, SourceCounters

LISTENER: Final = "listen"  # the config key of the endpoint's one listener
MAX_SOURCES: Final = 1000  # senders counted one by one; beyond this they share "other"
OTHER: Final = "other"


class AgentCounters(msgspec.Struct, frozen=True, kw_only=True):
    """One agent's counters (an agent is a token name; `(unauthenticated)` counts refusals of
    requests that named no valid token)."""

    requests: int = 0
    events: int = 0  # stored
    duplicates: int = 0  # acknowledged, not stored again (a resent batch)
    refused_events: int = 0  # unreadable events in otherwise accepted batches
    security_events: int = 0  # stored events classified as security-relevant
    errors: int = 0  # requests answered 4xx/5xx
    last_seen: float | None = None  # Unix time of its last request
    last_source: str | None = None  # "IP:PORT" of its last request
    last_error: str | None = None  # the reason of its last refused request
    last_dialect: str | None = None  # nxlog, vector, winlogbeat, generic


class WineventsCounters(Counters, frozen=True, kw_only=True):
    """The winevents collector's COUNTERS payload."""

    agents: dict[str, AgentCounters] = {}
    busy_refusals: int = 0  # requests answered 429 (store or in-flight limit pushed back)
    inflight: int = 0  # batches being parsed or stored at the time of the report


class _Source:
    __slots__ = ("bytes", "formats", "last_seen", "messages", "rejected")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.rejected = 0
        self.formats: dict[str, int] = {}
        self.last_seen = 0.0


def source_ip(peer: str) -> str:
    """The sender's address without its port: "10.1.2.3:5000" -> "10.1.2.3", "[::1]:5000" -> "::1"."""
    host = peer.rpartition(":")[0] if peer.count(":") == 1 or peer.startswith("[") else peer
    return host.strip("[]") or peer


class Traffic:
    """Counts per listener and per sender IP; refused events waiting for the next DROPS frame."""

    def __init__(self, max_sources: int = MAX_SOURCES) -> None:
        self.max_sources = max_sources
        self.events = 0
        self.bytes = 0
        self.rejected = 0
        self._sources: dict[str, _Source] = {}
        self._drops: dict[str | None, Drop] = {}

    def _source(self, ip: str) -> _Source:
        counts = self._sources.get(ip)
        if counts is None:
            if len(self._sources) >= self.max_sources:
                ip = OTHER
                counts = self._sources.get(ip)
            if counts is None:
                counts = self._sources[ip] = _Source()
        return counts

    def accepted(self, peer: str, size: int, dialects: dict[str, int], refused: int, now: float) -> None:
        """A batch stored: `dialects` counts its stored events per dialect."""
        ip = source_ip(peer)
        counts = self._source(ip)
        stored = sum(dialects.values())
        counts.messages += stored
        counts.bytes += size
        counts.rejected += refused
        counts.last_seen = now
        for dialect, number in dialects.items():
            counts.formats[dialect] = counts.formats.get(dialect, 0) + number
        self.events += stored
        self.bytes += size
        self.rejected += refused
        if refused:
            self._drop(ip, refused, now)

    def refused(self, peer: str) -> None:
        """A whole request refused (token, size, content type, bad body, busy)."""
        self._source(source_ip(peer)).rejected += 1
        self.rejected += 1

    def _drop(self, ip: str, records: int, now: float) -> None:
        earlier = self._drops.get(ip)
        if earlier is None:
            self._drops[ip] = Drop(
                source=ip,
                reason="rejected_input",
                detail="unreadable_event",
                records=records,
                bytes=0,
                first=now,
                last=now,
            )
        else:
            self._drops[ip] = msgspec.structs.replace(earlier, records=earlier.records + records, last=now)

    def take_drops(self) -> list[Drop]:
        drops, self._drops = list(self._drops.values()), {}
        return drops

    def counters(
        self, agents: dict[str, AgentCounters], busy_refusals: int, inflight: int, connections: int
    ) -> WineventsCounters:
        return WineventsCounters(
            listeners={
                LISTENER: ListenerCounters(
                    messages=self.events,
                    bytes=self.bytes,
                    rejected=self.rejected,
                    active_connections=connections,
                )
            },
            sources={
                ip: SourceCounters(
                    messages=c.messages,
                    bytes=c.bytes,
                    rejected=c.rejected,
                    formats=dict(c.formats),
                    last_seen=c.last_seen,
                )
                for ip, c in self._sources.items()
            },
            agents=agents,
            busy_refusals=busy_refusals,
            inflight=inflight,
        )
