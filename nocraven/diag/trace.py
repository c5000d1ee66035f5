"""Traceroute in the style of mtr: cycles of probes with rising TTL, a per-hop table of statistics.

Each cycle sends one probe per TTL up to the destination (or `max_hops` until it is found), waits
up to `timeout` for the answers, then settles the cycle into the `HopTable` (sans-IO) and yields a
`HopUpdated` per hop. Three ways to probe, picked by protocol and privilege:
- `udp`: a UDP socket with IP_RECVERR; hops' ICMP errors come back on the socket's error queue
  with the hop address, and the quoted destination port names the probe. Needs no privilege.
- `icmp` on a datagram (ping) socket with IP_RECVERR: the same, for echo requests.
- `icmp` on a raw socket (root): echo requests, and every ICMP error read and matched by the
  id/seq quoted inside it.
A probe is named by `probe_id = (cycle - 1) * 64 + ttl`: the ICMP seq, or the UDP port offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from nocraven.diag import icmp
from nocraven.diag.schema import DiagEvent, HopStats, HopUpdated, TraceRequest, TraceSummary
from nocraven.diag.sockets import (
    IP_RECVERR,
    IPV6_RECVERR,
    MSG_ERRQUEUE,
    arrival_from_ancillary,
    bind_source,
    enable_recverr,
    enable_timestamps,
    open_icmp,
    receive_timestamps_on,
    resolve,
    set_ttl,
    wait_readable,
)
from nocraven.diag.stats import RttStats, rounded

PROBES_PER_CYCLE = 64  # the most hops a request may ask for


def probe_id(cycle: int, ttl: int) -> int:
    return (cycle - 1) * PROBES_PER_CYCLE + ttl


def probe_of(identity: int) -> tuple[int, int]:
    """(cycle, ttl) back from a probe id."""
    return (identity - 1) // PROBES_PER_CYCLE + 1, (identity - 1) % PROBES_PER_CYCLE + 1


@dataclass
class HopRow:
    stats: RttStats = field(default_factory=RttStats)
    address: str | None = None


@dataclass
class HopTable:
    """Per-hop statistics over cycles; knows where the destination was found."""

    destination: str
    max_hops: int
    rows: dict[int, HopRow] = field(default_factory=dict)
    reached_at: int | None = None

    @property
    def limit(self) -> int:
        """The highest TTL still worth probing."""
        return self.reached_at if self.reached_at is not None else self.max_hops

    def settle(self, sent: list[int], answers: dict[int, tuple[str, float]]) -> list[int]:
        """Record one cycle: every TTL sent is either answered (by whom, in how long) or lost."""
        for ttl, (responder, _rtt) in answers.items():
            if responder == self.destination and (self.reached_at is None or ttl < self.reached_at):
                self.reached_at = ttl
        settled = [ttl for ttl in sent if ttl <= self.limit]
        for ttl in settled:
            row = self.rows.setdefault(ttl, HopRow())
            if ttl in answers:
                row.address, rtt_ms = answers[ttl]
                row.stats.answered(rtt_ms)
            else:
                row.stats.lost()
        return settled

    @property
    def last_answering_hop(self) -> int | None:
        answering = [ttl for ttl, row in self.rows.items() if row.stats.received]
        return max(answering) if answering else None

    def hop(self, ttl: int, names: dict[str, str | None]) -> HopStats:
        row = self.rows.get(ttl, HopRow())
        stats = row.stats
        return HopStats(
            hop=ttl,
            address=row.address,
            name=names.get(row.address) if row.address else None,
            sent=stats.sent,
            received=stats.received,
            loss_pct=stats.loss_pct,
            last_ms=rounded(stats.last_ms),
            avg_ms=rounded(stats.avg_ms),
            best_ms=rounded(stats.best_ms),
            worst_ms=rounded(stats.worst_ms),
            stddev_ms=rounded(stats.stddev_ms),
            destination=row.address == self.destination,
        )

    @property
    def shown(self) -> int:
        """How many hops a table shows: up to the destination or, on a cut path, up to one silent
        hop past the last answer (the rows beyond say nothing new)."""
        if self.reached_at is not None:
            return self.reached_at
        return min(self.max_hops, (self.last_answering_hop or 0) + 1)

    def summary_hops(self, names: dict[str, str | None]) -> list[HopStats]:
        return [self.hop(ttl, names) for ttl in range(1, self.shown + 1)]


Answer = tuple[int, str, float | None]  # probe id, responder address, kernel arrival time


class _Prober:
    """Sends probes and reads answers for one of the three ways to probe."""

    def __init__(self, req: TraceRequest, address: str, family: int, socket_kind: Literal["auto", "dgram", "raw"]):
        self.address, self.family, self.req = address, family, req
        self.v6 = family == socket.AF_INET6
        self.ident = random.randrange(1, 0x10000)
        self.rejected = 0
        self.kind: Literal["dgram", "raw", "udp"]
        if req.protocol == "udp":
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
            self.sock.setblocking(False)
            self.kind = "udp"
        else:
            self.sock, self.kind = open_icmp(family, socket_kind)
        try:
            bind_source(self.sock, family, req.source)
            if self.kind != "raw":
                enable_recverr(self.sock, family)
            enable_timestamps(self.sock)
        except BaseException:
            self.sock.close()
            raise

    def send(self, cycle: int, ttl: int) -> None:
        identity = probe_id(cycle, ttl)
        set_ttl(self.sock, self.family, ttl)
        if self.kind == "udp":
            packet, target = b"nocraven-trace" + bytes(18), (self.address, self.req.port + identity)
        else:
            packet = icmp.encode_echo_request(self.ident, identity, icmp.echo_payload(24, identity), v6=self.v6)
            target = (self.address, 0)
        for _attempt in range(2):
            try:
                self.sock.sendto(packet, target)
                return
            except OSError:
                # An earlier ICMP error is reported once by the next call; the retry really sends.
                continue

    def receive(self) -> list[Answer]:
        answers = self._read_errors() if self.kind != "raw" else []
        while True:
            try:
                data, ancdata, _flags, peer = self.sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                return answers
            except OSError:
                continue  # the pending error was reported here; the error queue holds its detail
            if self.kind == "udp":
                continue  # nothing should answer a probe with data; ignore it
            message = icmp.decode(data, v6=self.v6, ip_header=self.kind == "raw" and not self.v6)
            if message is None:
                self.rejected += 1
                continue
            matched = self._match(message, str(peer[0]))
            if matched is not None:
                answers.append((*matched, arrival_from_ancillary(ancdata)))

    def _match(self, message: icmp.IcmpMessage, source: str) -> tuple[int, str] | None:
        if message.kind == "echo_reply" and message.seq is not None:
            if self.kind == "raw" and (message.ident != self.ident or source != self.address):
                return None
            return message.seq, source
        inner = message.inner
        if self.kind == "raw" and inner and inner.ident == self.ident and inner.seq is not None:
            return inner.seq, source
        return None

    def _read_errors(self) -> list[Answer]:
        answers: list[Answer] = []
        while True:
            try:
                data, ancdata, _flags, original = self.sock.recvmsg(65535, 512, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return answers
            except OSError:
                return answers
            error = next(
                (
                    icmp.parse_extended_error(payload)
                    for level, kind, payload in ancdata
                    if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR))
                ),
                None,
            )
            if error is None or not error.from_icmp or error.offender is None:
                continue
            port = original[1] if isinstance(original, tuple) and len(original) > 1 else None
            identity = queued_probe_identity(self.kind == "udp", data, port, self.req.port, self.v6)
            if identity is not None and 1 <= identity <= self.req.cycles * PROBES_PER_CYCLE:
                answers.append((identity, error.offender, arrival_from_ancillary(ancdata)))


def queued_probe_identity(udp: bool, data: bytes, port: int | None, base_port: int, v6: bool) -> int | None:
    """Which probe an error-queue entry is about: the UDP destination port it was sent to, or the
    seq of our own echo request, which the kernel hands back as the entry's data."""
    if udp:
        return None if port is None else port - base_port
    if len(data) < 8 or data[0] != (icmp.ECHO_REQUEST_V6 if v6 else icmp.ECHO_REQUEST_V4):
        return None
    return int.from_bytes(data[6:8], "big")


async def _reverse_name(address: str, timeout: float = 2.0) -> str | None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            name, _port = await loop.getnameinfo((address, 0), socket.NI_NAMEREQD)
    except (OSError, TimeoutError, UnicodeError, ValueError):
        return None
    return name


async def trace(
    request: TraceRequest,
    *,
    socket_kind: Literal["auto", "dgram", "raw"] = "auto",
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[DiagEvent]:
    req = request.checked()
    address, family = await resolve(req.host, req.ip_version)
    await receive_timestamps_on()
    prober = _Prober(req, address, family, socket_kind)
    table = HopTable(destination=address, max_hops=req.max_hops)
    names: dict[str, str | None] = {}
    lookups: dict[str, asyncio.Task[str | None]] = {}
    try:
        for cycle in range(1, req.cycles + 1):
            started = clock()
            sent_at: dict[int, float] = {}
            sent_wall: dict[int, float] = {}  # to match the kernel's receive timestamps
            for ttl in range(1, table.limit + 1):
                sent_at[ttl], sent_wall[ttl] = clock(), wall_clock()
                prober.send(cycle, ttl)
            answers: dict[int, tuple[str, float]] = {}
            deadline = started + req.timeout
            while not cycle_complete(sent_at, answers, address) and clock() < deadline:
                if not await wait_readable(prober.sock, deadline - clock()):
                    break
                now = clock()
                for identity, responder, arrival in prober.receive():
                    answer_cycle, ttl = probe_of(identity)
                    if answer_cycle == cycle and ttl in sent_at and ttl not in answers:
                        answers[ttl] = (responder, round_trip_ms(sent_at[ttl], now, sent_wall[ttl], arrival))
            settled = table.settle(sorted(sent_at), answers)
            if req.resolve_names:
                for responder, _rtt in answers.values():
                    if responder not in lookups:
                        lookups[responder] = asyncio.create_task(_reverse_name(responder))
                for responder, task in lookups.items():
                    if task.done():
                        names[responder] = task.result()
            for ttl in settled:
                if ttl <= table.shown:
                    yield HopUpdated(cycle=cycle, stats=table.hop(ttl, names))
            if cycle < req.cycles:
                await asyncio.sleep(max(0.0, started + req.interval - clock()))
        if lookups:
            # Names still being looked up get a short last chance; the summary is not held up long.
            await asyncio.wait(lookups.values(), timeout=1.0)
            names.update({a: t.result() for a, t in lookups.items() if t.done()})
        yield TraceSummary(
            host=req.host,
            address=address,
            protocol=req.protocol,
            cycles=req.cycles,
            reached=table.reached_at is not None,
            last_answering_hop=table.last_answering_hop,
            hops=table.summary_hops(names),
            socket=prober.kind,
            rejected=prober.rejected,
        )
    finally:
        prober.sock.close()
        for task in lookups.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def round_trip_ms(sent: float, read: float, sent_wall: float, arrival: float | None) -> float:
    """From the kernel's arrival stamp when there is one (a busy loop reads late), else from our read."""
    if arrival is not None and arrival >= sent_wall:
        return (arrival - sent_wall) * 1000.0
    return (read - sent) * 1000.0


def cycle_complete(sent_at: dict[int, float], answers: dict[int, tuple[str, float]], destination: str) -> bool:
    """Every hop up to the first answer from the destination has answered."""
    reached = [ttl for ttl, (responder, _rtt) in answers.items() if responder == destination]
    last = min(reached) if reached else max(sent_at, default=0)
    return all(ttl in answers for ttl in sent_at if ttl <= last)
