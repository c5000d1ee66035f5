"""Who and what used the network, minute by minute: the numbers behind `nocraven flow top`.

Sans-IO. A UDP worker `add`s the flow records it decoded to `MinuteCounter` and sends
`take(WORKER_HOSTS)` (its busiest hosts of the minutes counted since the last take, every few
seconds) to its main process, which `merge`s every worker's into its own `MinuteCounter`; the
main process sends the engine, every few seconds, the busiest hosts and protocols of the
minutes that changed (`summaries`). The engine keeps the
last hour of those summaries, so answering "top talkers over the last N minutes" costs it
nothing per record.

Bytes and packets are scaled by the sampling rate when the record has one (`bytes_scaled`), so
sampled and unsampled exporters add up. A host counts a record as source and as destination.
Hosts beyond `max_hosts` in a minute add up under `other`, which bounds memory. Trimming per
worker and per report makes the ranking approximate for hosts that are never among a worker's
busiest: what a "who is using the network" view needs is the heavy hitters, and they are exact.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from collectors.flow.report import MinuteTop, Usage

MAX_HOSTS = 20_000  # distinct hosts counted per minute per process
SUMMARY_HOSTS = 200  # hosts kept per minute in a summary, per measure (bytes, packets, flows)
WORKER_HOSTS = 100  # hosts a worker reports per measure (heavy hitters; the rest under `other`)
MINUTES_KEPT = 3  # minutes a main process keeps whole, for late worker reports

Counts = list[int]  # [bytes, packets, flows]


class _Minute:
    __slots__ = ("hosts", "other", "protocols")

    def __init__(self) -> None:
        self.hosts: dict[str, Counts] = {}
        self.protocols: dict[int, Counts] = {}
        self.other: Counts = [0, 0, 0]


class MinuteCounter:
    def __init__(self, max_hosts: int = MAX_HOSTS) -> None:
        self.max_hosts = max_hosts
        self._minutes: dict[int, _Minute] = {}
        self.changed: set[int] = set()  # minutes counted into since the last `summaries`

    def add(self, records: Iterable[dict[str, Any]], now: float) -> None:
        """Count flow records (other kinds, such as sFlow counters, are skipped)."""
        minute = int(now // 60)
        bucket = self._minutes.get(minute)
        if bucket is None:
            bucket = self._minutes[minute] = _Minute()
        self.changed.add(minute)
        hosts, protocols, other, limit = bucket.hosts, bucket.protocols, bucket.other, self.max_hosts
        for record in records:
            if record.get("kind") != "flow":
                continue
            size = record.get("bytes_scaled") or record.get("bytes") or 0
            packets = record.get("packets_scaled") or record.get("packets") or 0
            for host in (record.get("src_addr"), record.get("dst_addr")):
                if host is None:
                    continue
                counts = hosts.get(host)
                if counts is None:
                    if len(hosts) >= limit:
                        counts = other
                    else:
                        counts = hosts[host] = [0, 0, 0]
                counts[0] += size
                counts[1] += packets
                counts[2] += 1
            protocol = record.get("protocol")
            if protocol is not None:
                counts = protocols.get(protocol)
                if counts is None:
                    counts = protocols[protocol] = [0, 0, 0]
                counts[0] += size
                counts[1] += packets
                counts[2] += 1

    def target(self, now: float) -> tuple[dict[str, Counts], dict[int, Counts], Counts, int]:
        """The tables `add` counts into for records received at `now` (the compiled path,
        collectors/flow/_fastflow.c, counts into them the way `add` does)."""
        minute = int(now // 60)
        bucket = self._minutes.get(minute)
        if bucket is None:
            bucket = self._minutes[minute] = _Minute()
        self.changed.add(minute)
        return bucket.hosts, bucket.protocols, bucket.other, self.max_hosts

    def take(self, keep: int | None = None) -> list[MinuteTop]:
        """Every minute counted since the last take, and forget them (a worker's delta): whole,
        or with the `keep` busiest hosts by each measure and the rest added up under `other`
        (what a worker sends: a few hundred hosts, not every address it saw)."""
        minutes, self._minutes = self._minutes, {}
        self.changed.clear()
        return [_summary(minute, bucket, keep) for minute, bucket in sorted(minutes.items())]

    def merge(self, deltas: Iterable[MinuteTop]) -> None:
        """Add a worker's minutes; minutes older than the kept ones are too late and dropped."""
        for delta in deltas:
            bucket = self._minutes.get(delta.minute)
            if bucket is None:
                if self._minutes and delta.minute <= max(self._minutes) - MINUTES_KEPT:
                    continue
                bucket = self._minutes[delta.minute] = _Minute()
                for old in sorted(self._minutes)[:-MINUTES_KEPT]:
                    del self._minutes[old]
                    self.changed.discard(old)
            self.changed.add(delta.minute)
            for host, usage in delta.hosts.items():
                counts = bucket.hosts.get(host)
                if counts is None:
                    counts = (
                        bucket.other
                        if len(bucket.hosts) >= self.max_hosts
                        else bucket.hosts.setdefault(host, [0, 0, 0])
                    )
                _add(counts, usage)
            _add(bucket.other, delta.other)
            for protocol, usage in delta.protocols.items():
                _add(bucket.protocols.setdefault(protocol, [0, 0, 0]), usage)

    def summaries(self, keep: int = SUMMARY_HOSTS) -> list[MinuteTop]:
        """The minutes that changed since the last call, each with its `keep` busiest hosts by
        bytes, by packets and by flows (the rest under `other`), and every protocol."""
        changed, self.changed = sorted(self.changed), set()
        return [_summary(minute, self._minutes[minute], keep) for minute in changed if minute in self._minutes]


def _summary(minute: int, bucket: _Minute, keep: int | None) -> MinuteTop:
    hosts = bucket.hosts
    other = list(bucket.other)
    if keep is not None and len(hosts) > keep:
        kept: set[str] = set()
        for measure in range(3):
            kept.update(heapq.nlargest(keep, hosts, key=lambda h: hosts[h][measure]))
        for host, counts in hosts.items():
            if host not in kept:
                other[0] += counts[0]
                other[1] += counts[1]
                other[2] += counts[2]
        hosts = {host: hosts[host] for host in kept}
    return MinuteTop(
        minute=minute,
        hosts={h: Usage(bytes=c[0], packets=c[1], flows=c[2]) for h, c in hosts.items()},
        protocols={p: Usage(bytes=c[0], packets=c[1], flows=c[2]) for p, c in bucket.protocols.items()},
        other=Usage(bytes=other[0], packets=other[1], flows=other[2]),
    )


def _add(counts: Counts, usage: Usage) -> None:
    counts[0] += usage.bytes
    counts[1] += usage.packets
    counts[2] += usage.flows


MEASURES = ("bytes", "packets", "flows")


def ranking(
    minutes: Iterable[MinuteTop], by: str, limit: int
) -> tuple[list[tuple[str, Usage]], list[tuple[int, Usage]]]:
    """The busiest hosts and protocols over the given minutes, by `bytes`, `packets` or `flows`."""
    hosts: dict[str, Counts] = {}
    protocols: dict[int, Counts] = {}
    for summary in minutes:
        for host, usage in summary.hosts.items():
            _add(hosts.setdefault(host, [0, 0, 0]), usage)
        for protocol, usage in summary.protocols.items():
            _add(protocols.setdefault(protocol, [0, 0, 0]), usage)
    index = MEASURES.index(by)

    def ranked(table: dict[Any, Counts]) -> list[tuple[Any, Usage]]:
        best = sorted(table.items(), key=lambda item: (-item[1][index], str(item[0])))[:limit]
        return [(key, Usage(bytes=c[0], packets=c[1], flows=c[2])) for key, c in best]

    return ranked(hosts), ranked(protocols)
