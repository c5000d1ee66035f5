"""The payloads of the channel's frames, typed: what a collector tells the engine.

One owner for the collector contract: the collector encodes these Structs, the engine decodes
the same Structs, and the counter names the console shows are these field names. RECORDS
frames carry NDJSON records (the buffer stores the bytes as they are) and have no Struct; the
RECEIVED frame before one is its records' wire bytes, 8 bytes big-endian (`channel.RECEIVED_BYTES`).

Counters are cumulative since the collector process started; a UDP worker sends its main
process the same `Counters` as deltas since its last report, which the main process adds up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import msgspec

from collectors.common.channel import FrameKind

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# The ledger reasons a collector may report (the buffer's DropReason has the full list).
DropReason = Literal["rejected_input", "kernel_drop", "collector_crash", "connection_reset"]


class ListenerCounters(msgspec.Struct, frozen=True, kw_only=True):
    """One listener's counters."""

    messages: int = 0  # accepted and parsed
    bytes: int = 0  # of the accepted messages
    rejected: int = 0  # refused: sender not allowed, framing errors, connection limit, kernel drops
    framing_errors: int = 0  # stream bytes that were not a syslog frame (over-long, bad octet count)
    connections: int = 0  # stream connections accepted since the start
    # Stream connections closed to make room for a newcomer (idle the longest), or idle too long.
    connections_evicted: int = 0
    connections_idle_closed: int = 0
    handshake_failures: int = 0  # TLS handshakes that failed or did not finish in time
    kernel_drops: int = 0  # datagrams the kernel dropped because the socket buffer was full
    # Open connections now; absent for a listener without connections (UDP).
    active_connections: int | msgspec.UnsetType = msgspec.UNSET


class SourceCounters(msgspec.Struct, frozen=True, kw_only=True):
    """One sender's counters (per IP address, or "other" beyond the collector's source limit)."""

    messages: int = 0
    bytes: int = 0
    rejected: int = 0
    formats: dict[str, int] = {}  # messages per format the parser recognised
    last_seen: float = 0.0  # Unix time of the last accepted message


class Counters(msgspec.Struct, frozen=True, kw_only=True):
    """The COUNTERS payload: every listener's and every source's counters."""

    listeners: dict[str, ListenerCounters] = {}
    sources: dict[str, SourceCounters] = {}


class Drop(msgspec.Struct, frozen=True, kw_only=True):
    """Records refused or lost before they reached the engine: one ledger entry per source and
    cause since the last DROPS frame."""

    source: str | None  # "IP:PORT", an IP, or None when the sender is unknown (kernel drops)
    reason: DropReason
    # The collector's own cause: sender_not_allowed, framing_error, connection_limit,
    # source_connection_limit, tls_handshake_failed, kernel_drop, worker_crashed, ...
    detail: str
    records: int
    bytes: int
    first: float  # Unix times of the first and the last drop counted
    last: float


class BoundListener(msgspec.Struct, frozen=True, kw_only=True):
    listener: str  # its config key: "udp", "tcp", "tls"
    proto: Literal["udp", "tcp"]  # the transport (TLS is "tcp")
    address: str  # as bound: "HOST:PORT" or "[v6]:PORT", with the kernel's port if 0 was asked


class Ready(msgspec.Struct, frozen=True, kw_only=True):
    """The READY payload: sent once, when every listener is bound."""

    listeners: list[BoundListener]


class LogLine(msgspec.Struct, frozen=True, kw_only=True):
    """A LOG payload: one line for the engine's log (and its status, if it is an error)."""

    level: LogLevel = "info"
    message: str


encode_payload = msgspec.json.Encoder().encode


class FrameError(Exception):
    """A frame's payload is not what its kind says (a collector of another version, or a bug)."""


class PayloadDecoder:
    """Typed decoding of frame payloads; every error is a FrameError naming the frame kind."""

    def __init__(self, counters: type[Counters] = Counters) -> None:
        # A collector with counters of its own sends a subclass of Counters (winevents: per
        # agent); its engine part decodes that, and any other reader gets the common part.
        self._counters = msgspec.json.Decoder(counters)
        self._drops = msgspec.json.Decoder(list[Drop])
        self._ready = msgspec.json.Decoder(Ready)
        self._log = msgspec.json.Decoder(LogLine)

    def counters(self, payload: bytes) -> Counters:
        with _frame_errors(FrameKind.COUNTERS):
            return self._counters.decode(payload)

    def drops(self, payload: bytes) -> list[Drop]:
        with _frame_errors(FrameKind.DROPS):
            return self._drops.decode(payload)

    def ready(self, payload: bytes) -> Ready:
        with _frame_errors(FrameKind.READY):
            return self._ready.decode(payload)

    def log(self, payload: bytes) -> LogLine:
        with _frame_errors(FrameKind.LOG):
            return self._log.decode(payload)


@contextlib.contextmanager
def _frame_errors(kind: FrameKind) -> Iterator[None]:
    try:
        yield
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise FrameError(f"{kind.name} frame: {exc}") from None
