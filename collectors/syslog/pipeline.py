"""What every syslog listener does with a batch of messages: allowlist, parse, count, encode.

Shared by the UDP worker processes and the TCP/TLS listeners of the collector's main process.
Each process runs it on one thread; the workers send their counters to the main process as
deltas (`Stats.take`), which adds them up (`Stats.add`) for the engine.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

from collectors.common.frames import Counters, Drop, DropReason, ListenerCounters, SourceCounters
from collectors.syslog.fastpath import parse_encode_batch

MAX_SOURCES = 10_000  # per-source counters kept; beyond that, new senders count under "other"
# The listener counters a process adds to (active_connections is a gauge, set when reported).
LISTENER_COUNTERS = tuple(name for name in ListenerCounters.__struct_fields__ if name != "active_connections")


def _new_source() -> dict[str, Any]:
    return {"messages": 0, "bytes": 0, "rejected": 0, "formats": {}, "last_seen": 0.0}


# The ledger reason of a collector's own causes; every other cause is rejected input.
DROP_REASONS: dict[str, DropReason] = {"kernel_drop": "kernel_drop", "worker_crashed": "collector_crash"}


def source_ip(source: str) -> str:
    """The IP of "IP:PORT" or "[v6]:PORT" ("[v6]" for IPv6, as per-source counters key it); an
    address without a port is returned as it is."""
    if source.startswith("["):
        return source[: source.find("]") + 1] or source
    head, sep, _ = source.rpartition(":")
    return head if sep and ":" not in head else source


class Stats:
    """Counters per source IP and per listener, and the drops not yet reported. Kept as dicts
    (they are added to for every batch) and handed out as `frames.Counters`."""

    def __init__(self) -> None:
        self.sources: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, dict[str, int]] = {}
        self._drops: dict[tuple[str | None, str], list[float]] = {}  # (source, detail) -> [records, bytes, first, last]

    def listener(self, name: str) -> dict[str, int]:
        counters = self.listeners.get(name)
        if counters is None:
            counters = self.listeners[name] = dict.fromkeys(LISTENER_COUNTERS, 0)
        return counters

    def _source(self, ip: str) -> dict[str, Any]:
        entry = self.sources.get(ip)
        if entry is None:
            if len(self.sources) >= MAX_SOURCES:
                ip = "other"
                entry = self.sources.get(ip)
            if entry is None:
                entry = self.sources[ip] = _new_source()
        return entry

    def received(self, listener: str, senders: list[str], formats: list[str], sizes: list[int], now: float) -> None:
        """Count a parsed batch; senders are "IP:PORT", counted per IP."""
        total_bytes = sum(sizes)
        lst = self.listener(listener)
        lst["messages"] += len(senders)
        lst["bytes"] += total_bytes
        if senders and senders.count(senders[0]) == len(senders):  # one sender: a TCP read, mostly
            entry = self._source(senders[0].rpartition(":")[0])
            entry["messages"] += len(senders)
            entry["bytes"] += total_bytes
            entry["last_seen"] = now
            known = entry["formats"]
            for fmt, count in Counter(formats).items():
                known[fmt] = known.get(fmt, 0) + count
            return
        # Counted per distinct sender at C speed; a batch usually holds a handful of them.
        for (sender, fmt), count in Counter(zip(senders, formats, strict=True)).items():
            entry = self._source(sender.rpartition(":")[0])
            entry["messages"] += count
            entry["formats"][fmt] = entry["formats"].get(fmt, 0) + count
            entry["last_seen"] = now
        ips = {sender.rpartition(":")[0] for sender in set(senders)}
        if len(ips) == 1:  # one device sending from several ports: no per-message loop
            self._source(ips.pop())["bytes"] += total_bytes
            return
        bytes_per_sender: Counter[str] = Counter()
        for sender, size in zip(senders, sizes, strict=True):
            bytes_per_sender[sender] += size
        for sender, size in bytes_per_sender.items():
            self._source(sender.rpartition(":")[0])["bytes"] += size

    def rejected(self, listener: str, source: str | None, records: int, size: int, detail: str, now: float) -> None:
        self.listener(listener)["rejected"] += records
        if source is not None:
            self._source(source_ip(source))["rejected"] += records
        drop = self._drops.setdefault((source, detail), [0, 0, now, now])
        drop[0] += records
        drop[1] += size
        drop[3] = now

    def take_drops(self) -> list[Drop]:
        drops, self._drops = self._drops, {}
        return [
            Drop(
                source=source,
                reason=DROP_REASONS.get(detail, "rejected_input"),
                detail=detail,
                records=int(d[0]),
                bytes=int(d[1]),
                first=d[2],
                last=d[3],
            )
            for (source, detail), d in drops.items()
        ]

    def snapshot(self) -> Counters:
        return Counters(
            listeners={name: ListenerCounters(**counters) for name, counters in self.listeners.items()},
            sources={
                ip: SourceCounters(**dict(counts, formats=dict(counts["formats"])))
                for ip, counts in self.sources.items()
            },
        )

    def take(self) -> Counters:
        """The counters since the last take (a worker's delta for the main process)."""
        delta = self.snapshot()
        self.listeners, self.sources = {}, {}
        return delta

    def add(self, delta: Counters) -> None:
        """Add another process's counters (from `take`) to these."""
        for name, counters in delta.listeners.items():
            lst = self.listener(name)
            for key in LISTENER_COUNTERS:
                lst[key] += getattr(counters, key)
        for ip, counts in delta.sources.items():
            entry = self._source(ip)
            entry["messages"] += counts.messages
            entry["bytes"] += counts.bytes
            entry["rejected"] += counts.rejected
            formats = entry["formats"]
            for fmt, count in counts.formats.items():
                formats[fmt] = formats.get(fmt, 0) + count
            entry["last_seen"] = max(entry["last_seen"], counts.last_seen)


class Allowlist:
    def __init__(self, networks: list[str]) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._cache: dict[str, bool] = {}
        self.active = bool(self._networks)

    def allows(self, source: str) -> bool:
        if not self._networks:
            return True
        ip = source.rpartition(":")[0].strip("[]")
        allowed = self._cache.get(ip)
        if allowed is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            try:
                address = ipaddress.ip_address(ip)
                allowed = any(address in n for n in self._networks)
            except ValueError:
                allowed = False
            self._cache[ip] = allowed
        return allowed


class Pipeline:
    """Allowlist, parse, count and encode a batch of messages from one listener."""

    def __init__(self, stats: Stats, allow: Allowlist) -> None:
        self._stats = stats
        self._allow = allow
        self.accepted_bytes = 0  # of the messages behind the last `handle`'s records
        self.accepted = 0  # messages behind the last `handle`'s records (one record each)

    def handle(self, listener: str, messages: list[bytes], senders: list[str], now: float) -> bytes:
        """NDJSON of the records (every line ends in a newline), b"" if none was accepted;
        `accepted_bytes` is then the size of the messages they came from."""
        self.accepted_bytes = 0
        if self._allow.active:
            messages, senders = self._allowed(listener, messages, senders, now)
        self.accepted = len(messages)  # each gives one record
        if not messages:
            return b""
        ndjson, formats = parse_encode_batch(messages, senders, now)
        sizes = list(map(len, messages))
        self._stats.received(listener, senders, formats, sizes, now)
        self.accepted_bytes = sum(sizes)
        return ndjson

    def _allowed(
        self, listener: str, messages: list[bytes], senders: list[str], now: float
    ) -> tuple[list[bytes], list[str]]:
        allows = self._allow.allows
        kept_messages, kept_senders = [], []
        for data, sender in zip(messages, senders, strict=True):
            if allows(sender):
                kept_messages.append(data)
                kept_senders.append(sender)
            else:
                # Per IP: a ledger row per source port would let a scan flood the ledger.
                self._stats.rejected(listener, source_ip(sender), 1, len(data), "sender_not_allowed", now)
        return kept_messages, kept_senders
