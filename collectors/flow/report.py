"""What the flow collector tells, typed: its setup, a UDP worker's report to the main process,
and the main process's DETAIL frame to the engine (`collectors.common.channel.FrameKind.DETAIL`).

The engine decodes the same Structs (`nocraven.ingest.flow`) and its API hands the counter and
template Structs out as they are, so a counter is named once, here and in `stats.COUNTERS`.
"""

from __future__ import annotations

import msgspec

from collectors.flow.settings import FlowSettings


class FlowSetup(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine writes on the collector's stdin (and the main process hands its workers)."""

    flow: FlowSettings
    # Where the templates are kept across restarts (the engine's data_dir + "/flow"); "" keeps
    # them in memory only.
    state_dir: str = ""


class ExporterCounters(msgspec.Struct, frozen=True, kw_only=True):
    """One exporter's counters since the collector started (`collectors.flow.stats`)."""

    datagrams: int = 0
    bytes: int = 0
    records: int = 0
    templates_learned: int = 0
    templates_withdrawn: int = 0
    templates_refused: int = 0
    sequence_gaps: int = 0  # jumps forward in the exporter's sequence numbers
    lost_datagrams: int = 0  # NetFlow v9, sFlow: what the gaps add up to
    lost_records: int = 0  # NetFlow v5, IPFIX: what the gaps add up to
    sequence_resets: int = 0  # the exporter started counting again (a restart, not a loss)
    decode_errors: int = 0
    held_sets: int = 0  # data sets that arrived before their template
    released_records: int = 0  # records decoded once their template came
    expired_sets: int = 0  # held sets whose template never came in time
    refused_versions: int = 0  # datagrams of a version the listener does not take
    last_seen: float = 0.0
    last_error: str | None = None


class TemplateInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One template as a person reads it (`TemplateCache.describe`)."""

    exporter: str
    port: int
    version: int
    domain: int  # IPFIX observation domain, v9 source id
    template_id: int
    kind: str  # "data" or "options"
    fields: list[str]
    scope_fields: int
    learned_at: float


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Traffic of a host or protocol in a minute: bytes and packets scaled by the sampling rate."""

    bytes: int = 0
    packets: int = 0
    flows: int = 0


class MinuteTop(msgspec.Struct, frozen=True, kw_only=True):
    """The busiest hosts and protocols of one minute (`collectors.flow.top`)."""

    minute: int  # Unix time // 60
    hosts: dict[str, Usage]  # by address, as source or destination
    protocols: dict[int, Usage]  # by IP protocol number
    other: Usage  # what the hosts left out of `hosts` add up to


NOTHING = msgspec.Raw(b"null")


class WorkerReport(msgspec.Struct, frozen=True, kw_only=True):
    """A UDP worker to its main process: counter deltas, new templates, the minute's traffic."""

    pid: int
    exporters: dict[str, ExporterCounters] = {}
    # `TemplateCache.take_fresh()` for the sibling workers, as it is (JSON null: nothing new).
    # A bare Raw: msgspec does not take a Raw in a union.
    templates: msgspec.Raw = NOTHING
    top: list[MinuteTop] = []
    # Runs of sequence numbers seen, per (exporter address, unit, sequence key ...), for the
    # main process to follow across workers (`collectors.flow.sequence`).
    sequences: list[tuple[list[str | int], list[tuple[int, int]]]] = []

    def fresh_templates(self) -> bytes | None:
        raw = bytes(self.templates)
        return None if raw == b"null" else raw


class FlowReport(msgspec.Struct, frozen=True, kw_only=True):
    """The main process to the engine, about once a second."""

    exporters: dict[str, ExporterCounters]
    templates: list[TemplateInfo] | None = None  # only when they changed since the last report
    top: list[MinuteTop] = []  # the minutes whose numbers changed since the last report


encode = msgspec.json.Encoder().encode
