"""What the engine tells about a collector: its totals, and its status detail.

Built from the collector's own frames (`collectors.common.frames`), whose counter Structs are
reused here as they are: a counter is named once, where the collector reports it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from collectors.common.frames import ListenerCounters, SourceCounters


class CollectorSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The totals the console and the CLI show; the same for every collector."""

    messages: int  # accepted, over every listener, since the engine started (every collector run)
    bytes: int
    rejected: int
    kernel_drops: int
    framing_errors: int
    rate_mps: float  # messages per second between the last two counter reports
    sources: int  # distinct senders seen
    records_stored: int  # records the buffer took
    lost_without_buffer: int  # records that arrived while no buffer was running
    # Accepted by collector processes that died before handing them over (ledger: collector_crash).
    lost_in_crashes: int = 0


class ListenerStatus(msgspec.Struct, frozen=True, kw_only=True):
    listener: str
    proto: Literal["udp", "tcp"]
    address: str
    counters: ListenerCounters  # zeros until the collector's first report


class CollectorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A collector's detail in /v1/status."""

    listeners: list[ListenerStatus]
    totals: CollectorSummary
    sources: dict[str, SourceCounters]  # the busiest senders


class CollectorSources(msgspec.Struct, frozen=True, kw_only=True):
    """GET /v1/<collector>/sources: every sender's counters and the listeners."""

    sources: dict[str, SourceCounters]
    listeners: list[ListenerStatus]
