"""The diagnostics contract: one request Struct per tool, its checks, and every event a tool yields.

A tool is an async generator: it takes a checked request, yields progress events (one per reply,
hop update or progress tick) and ends with exactly one summary event. Events are msgspec Structs
tagged by `kind`, so `msgspec.json.encode(event)` is the NDJSON line the API will stream and
`msgspec.json.decode(line, type=DiagEvent)` gets the typed event back on the client side.

`problem(request)` is the up-front validator: `None` or one line naming the field and the fix.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from nocraven.diag import validate as v


class DiagFailed(Exception):
    """A tool could not run at all (unresolvable name, no permission for a socket ...): one line."""


# --------------------------------------------------------------------------------------- requests


class PingRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str
    count: int = 5
    interval: float = 1.0  # seconds between echo requests
    timeout: float = 2.0  # seconds to wait for each reply
    size: int = 56  # ICMP payload bytes, as ping(8) counts them
    source: str | None = None  # source address or interface name
    ip_version: Literal[0, 4, 6] = 0  # 0: whatever the name resolves to first

    def checked(self) -> PingRequest:
        return msgspec.structs.replace(
            self,
            host=v.check_host(self.host),
            count=v.check_int(self.count, "count", 1, 1000, "probes"),
            interval=v.check_seconds(self.interval, "interval", 0.01, 60),
            timeout=v.check_seconds(self.timeout, "timeout", 0.1, 30),
            size=v.check_int(self.size, "size", 0, 9000, "bytes"),
            source=None if self.source is None else v.check_source(self.source),
            ip_version=v.check_choice(self.ip_version, "ip_version", (0, 4, 6)),
        )


class TraceRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str
    cycles: int = 5  # rounds of probes over every hop, as mtr's --report-cycles
    max_hops: int = 30
    protocol: Literal["icmp", "udp"] = "icmp"
    timeout: float = 1.0  # seconds to wait for the answers of one cycle
    interval: float = 1.0  # seconds between the starts of two cycles
    port: int = 33434  # first UDP destination port (one port per probe after it)
    resolve_names: bool = True
    source: str | None = None
    ip_version: Literal[0, 4, 6] = 0

    def checked(self) -> TraceRequest:
        return msgspec.structs.replace(
            self,
            host=v.check_host(self.host),
            cycles=v.check_int(self.cycles, "cycles", 1, 100),
            max_hops=v.check_int(self.max_hops, "max_hops", 1, 64, "hops"),
            timeout=v.check_seconds(self.timeout, "timeout", 0.1, 10),
            interval=v.check_seconds(self.interval, "interval", 0.05, 10),
            port=v.check_int(self.port, "port", 1024, 65535 - 64 * 100),
            source=None if self.source is None else v.check_source(self.source),
            protocol=v.check_choice(self.protocol, "protocol", ("icmp", "udp")),
            ip_version=v.check_choice(self.ip_version, "ip_version", (0, 4, 6)),
        )


class DnsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str  # a name, or an IP address for PTR
    type: str = "A"
    server: str | None = None  # IP[:PORT]; None means the system resolver's servers
    timeout: float = 3.0
    tcp: bool = False

    def checked(self) -> DnsRequest:
        kind = v.check_record_type(self.type)
        name = v.check_host(self.name, "name") if kind == "PTR" else v.check_dns_name(self.name, "name")
        if self.server is not None:
            v.check_dns_server(self.server)
        return msgspec.structs.replace(
            self, name=name, type=kind, timeout=v.check_seconds(self.timeout, "timeout", 0.1, 30)
        )


class BandwidthRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    direction: Literal["download", "upload"] = "download"
    max_seconds: float = 10.0
    max_bytes: int = 100 * 1024 * 1024

    def checked(self) -> BandwidthRequest:
        return msgspec.structs.replace(
            self,
            url=v.check_url(self.url),
            direction=v.check_choice(self.direction, "direction", ("download", "upload")),
            max_seconds=v.check_seconds(self.max_seconds, "max_seconds", 0.5, 120),
            max_bytes=v.check_int(self.max_bytes, "max_bytes", 1, 10 * 1024**3, "bytes"),
        )


class IperfRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: str
    port: int = 5201
    seconds: int = 5
    reverse: bool = False  # server sends, we receive (download)
    streams: int = 1

    def checked(self) -> IperfRequest:
        return msgspec.structs.replace(
            self,
            server=v.check_host(self.server, "server"),
            port=v.check_port(self.port),
            seconds=v.check_int(self.seconds, "seconds", 1, 60, "s"),
            streams=v.check_int(self.streams, "streams", 1, 8),
        )


class PortRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str
    port: int
    timeout: float = 3.0
    tls: bool = False
    server_name: str | None = None  # SNI and the name to verify; the host when it is a name

    def checked(self) -> PortRequest:
        return msgspec.structs.replace(
            self,
            host=v.check_host(self.host),
            port=v.check_port(self.port),
            timeout=v.check_seconds(self.timeout, "timeout", 0.1, 30),
            server_name=None if self.server_name is None else v.check_hostname(self.server_name, "server_name"),
        )


DiagRequest = PingRequest | TraceRequest | DnsRequest | BandwidthRequest | IperfRequest | PortRequest


def problem(request: DiagRequest) -> str | None:
    """The one line that says what is wrong with a request, or None when it can run."""
    try:
        request.checked()
    except v.InvalidInput as exc:
        return str(exc)
    return None


# ----------------------------------------------------------------------------------------- events


class _Event(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class PingReplied(_Event, tag="ping.replied", frozen=True):
    seq: int
    address: str
    rtt_ms: float
    ttl: int | None
    bytes: int


class PingTimedOut(_Event, tag="ping.timed_out", frozen=True):
    seq: int


class PingSummary(_Event, tag="ping.summary", frozen=True):
    host: str
    address: str
    sent: int
    received: int
    loss_pct: float
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    stddev_ms: float | None
    socket: Literal["dgram", "raw"]
    rejected: int = 0  # ICMP messages too short or malformed to read, ignored


class HopStats(msgspec.Struct, frozen=True):
    hop: int
    address: str | None  # None while no probe to this hop was answered
    name: str | None
    sent: int
    received: int
    loss_pct: float
    last_ms: float | None
    avg_ms: float | None
    best_ms: float | None
    worst_ms: float | None
    stddev_ms: float | None
    destination: bool  # the answer came from the target itself


class HopUpdated(_Event, tag="trace.hop_updated", frozen=True):
    cycle: int
    stats: HopStats


class TraceSummary(_Event, tag="trace.summary", frozen=True):
    host: str
    address: str
    protocol: Literal["icmp", "udp"]
    cycles: int
    reached: bool
    last_answering_hop: int | None  # where the path is cut when not reached
    hops: list[HopStats]
    socket: Literal["dgram", "raw", "udp"]
    rejected: int = 0  # ICMP messages too short or malformed to read, ignored


class DnsRecord(msgspec.Struct, frozen=True):
    name: str
    type: str
    ttl: int
    value: str


DnsStatus = Literal["noerror", "nodata", "nxdomain", "servfail", "refused", "timeout", "unreachable", "error"]


class DnsQuerySent(_Event, tag="dns.query_sent", frozen=True):
    server: str
    port: int
    transport: Literal["udp", "tcp"]


class DnsSummary(_Event, tag="dns.summary", frozen=True):
    name: str
    type: str
    server: str  # the server that answered (or the last one tried)
    port: int
    status: DnsStatus
    rcode: str | None  # the DNS rcode name when a response came back
    response_ms: float | None
    answers: list[DnsRecord]
    authoritative: bool
    detail: str  # one line for people: what happened


class BandwidthProgressed(_Event, tag="bandwidth.progressed", frozen=True):
    direction: Literal["download", "upload"]
    bytes: int
    elapsed_s: float
    bits_per_second: float


class BandwidthSummary(_Event, tag="bandwidth.summary", frozen=True):
    url: str
    direction: Literal["download", "upload"]
    http_status: int | None
    bytes: int
    seconds: float
    bits_per_second: float
    stopped_by: Literal["complete", "byte_limit", "time_limit"]


class IperfProgressed(_Event, tag="iperf.progressed", frozen=True):
    elapsed_s: float


class IperfSummary(_Event, tag="iperf.summary", frozen=True):
    server: str
    port: int
    direction: Literal["upload", "download"]
    seconds: float
    bytes: int
    bits_per_second: float
    retransmits: int | None


class TlsSummary(msgspec.Struct, frozen=True):
    version: str | None
    cipher: str | None
    subject: str
    issuer: str
    sans: list[str]
    not_before: str  # RFC 3339
    not_after: str
    days_left: int
    verified: bool
    verify_error: str | None


PortState = Literal["open", "refused", "filtered", "unreachable"]


class PortSummary(_Event, tag="port.summary", frozen=True):
    host: str
    address: str
    port: int
    state: PortState
    connect_ms: float | None
    detail: str
    tls: TlsSummary | None = None
    tls_error: str | None = None


class JobStarted(_Event, tag="job.started", frozen=True):
    job_id: str
    tool: str


class JobEnded(_Event, tag="job.ended", frozen=True):
    job_id: str
    tool: str
    outcome: Literal["finished", "time_limit", "cancelled", "failed"]
    seconds: float
    message: str  # empty when finished; otherwise the one line to show


DiagEvent = (
    PingReplied
    | PingTimedOut
    | PingSummary
    | HopUpdated
    | TraceSummary
    | DnsQuerySent
    | DnsSummary
    | BandwidthProgressed
    | BandwidthSummary
    | IperfProgressed
    | IperfSummary
    | PortSummary
    | JobStarted
    | JobEnded
)
