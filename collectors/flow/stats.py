"""Counters per exporter (by address), kept by each decoder and sent on as deltas.

A UDP worker reports `take()` now and then; the collector's main process `add`s the deltas of
all its workers. `lost_datagrams` (NetFlow v9, sFlow) and `lost_records` (NetFlow v5, IPFIX)
are inferred from sequence numbers, each in the unit its protocol counts; `sequence_gaps`
counts the jumps; `sequence_resets` the times an exporter started its count again (a restart,
not a loss).
"""

from __future__ import annotations

from typing import Any

MAX_EXPORTERS = 10_000  # beyond that, new exporters count under "other"
COUNTERS = (
    "datagrams",
    "bytes",
    "records",
    "templates_learned",
    "templates_withdrawn",
    "templates_refused",
    "sequence_gaps",
    "lost_datagrams",
    "lost_records",
    "sequence_resets",
    "decode_errors",
    "held_sets",
    "released_records",
    "expired_sets",
    "refused_versions",
)


def _new_exporter() -> dict[str, Any]:
    entry: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    entry["last_seen"] = 0.0
    entry["last_error"] = None
    return entry


class FlowStats:
    def __init__(self) -> None:
        self.exporters: dict[str, dict[str, Any]] = {}

    def exporter(self, address: str) -> dict[str, Any]:
        entry = self.exporters.get(address)
        if entry is None:
            if len(self.exporters) >= MAX_EXPORTERS:
                address = "other"
                entry = self.exporters.get(address)
            if entry is None:
                entry = self.exporters[address] = _new_exporter()
        return entry

    def error(self, address: str, message: str) -> None:
        entry = self.exporter(address)
        entry["decode_errors"] += 1
        entry["last_error"] = message

    def take(self) -> dict[str, dict[str, Any]]:
        """The counters since the last take (a worker's delta for the main process)."""
        delta, self.exporters = self.exporters, {}
        return delta

    def add(self, delta: dict[str, dict[str, Any]]) -> None:
        for address, counts in delta.items():
            entry = self.exporter(address)
            for key in COUNTERS:
                entry[key] += counts.get(key, 0)
            entry["last_seen"] = max(entry["last_seen"], counts.get("last_seen", 0.0))
            if counts.get("last_error"):
                entry["last_error"] = counts["last_error"]

    def total(self, key: str) -> int:
        return sum(int(e[key]) for e in self.exporters.values())
