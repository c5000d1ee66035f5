"""The diagnostics' bodies on the wire.

A diagnostic is started by a POST whose body is its request (`PingRequest`, `TraceRequest`,
`DnsRequest`, `BandwidthRequest`, `IperfRequest`, `PortRequest`) and answered by an NDJSON
stream of `DiagEvent`s: `JobStarted`, the tool's progress, its summary, then `JobEnded`. Those
Structs, and the request checks, are owned by `nocraven.diag.schema` (the tools yield them as
they are); they are re-exported here so front ends find every diagnostics body in one wire
module. The bodies below are the API's own: the running jobs, a cancellation, the status detail.
"""

from __future__ import annotations

import msgspec

from nocraven.diag.schema import (
    BandwidthProgressed,
    BandwidthRequest,
    BandwidthSummary,
    DiagEvent,
    DiagRequest,
    DnsQuerySent,
    DnsRecord,
    DnsRequest,
    DnsStatus,
    DnsSummary,
    HopStats,
    HopUpdated,
    IperfProgressed,
    IperfRequest,
    IperfSummary,
    JobEnded,
    JobStarted,
    PingReplied,
    PingRequest,
    PingSummary,
    PingTimedOut,
    PortRequest,
    PortState,
    PortSummary,
    TlsSummary,
    TraceRequest,
    TraceSummary,
)
from nocraven.schema.base import Body

__all__ = [
    "BandwidthProgressed",
    "BandwidthRequest",
    "BandwidthSummary",
    "DiagCounters",
    "DiagEvent",
    "DiagJob",
    "DiagJobs",
    "DiagRequest",
    "DnsQuerySent",
    "DnsRecord",
    "DnsRequest",
    "DnsStatus",
    "DnsSummary",
    "HopStats",
    "HopUpdated",
    "IperfProgressed",
    "IperfRequest",
    "IperfSummary",
    "JobCancelled",
    "JobEnded",
    "JobStarted",
    "PingReplied",
    "PingRequest",
    "PingSummary",
    "PingTimedOut",
    "PortRequest",
    "PortState",
    "PortSummary",
    "TlsSummary",
    "TraceRequest",
    "TraceSummary",
    "decode_event",
]

_event_decoder = msgspec.json.Decoder(DiagEvent)


def decode_event(line: bytes) -> DiagEvent:
    """One NDJSON line of a diagnostics stream as its typed event."""
    return _event_decoder.decode(line)


class DiagJob(Body):
    """A running diagnostic, as GET /v1/diag/jobs lists it."""

    job_id: str
    tool: str  # ping, trace, dns, bandwidth, iperf, port
    target: str  # the host, name, URL or server it probes
    started_at: float  # epoch seconds
    elapsed_s: float
    time_limit_s: float  # it is stopped (outcome "time_limit") if still running then
    started_by: str  # who asked, as the API identified them


class DiagJobs(Body):
    jobs: list[DiagJob]
    max_running: int


class JobCancelled(Body):
    job_id: str
    tool: str


class NocPlan(Body):
    """GET /v1/diag/noc: what the NOC check probes (ping the gateway, resolve the NOC's name,
    connect to its port); a step with no target is skipped, and `notes` say why."""

    gateway: str
    dns_name: str | None
    dns_server: str | None  # None: the system resolver
    host: str | None  # the NOC, port-checked
    port: int | None
    source: str  # where host and port come from: "[diag] noc_target", "forward sink 'noc'", ""
    notes: list[str]


class DiagCounters(Body):
    """The diag component's detail in /v1/status: what runs now and how jobs have ended."""

    running: int = 0
    max_running: int = 0
    max_job_seconds: float = 0.0
    started: int = 0
    refused_busy: int = 0
    finished: int = 0
    time_limit: int = 0
    cancelled: int = 0
    failed: int = 0
