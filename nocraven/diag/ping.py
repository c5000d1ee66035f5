"""Ping: echo requests on a schedule, a `PingReplied` or `PingTimedOut` per probe, then a summary.

`EchoSchedule` decides (sans-IO, `now` passed in) when the next request is due, which ones have
timed out and when everything is settled; `ping()` only moves packets and yields its decisions.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from nocraven.diag import icmp
from nocraven.diag.schema import DiagEvent, PingReplied, PingRequest, PingSummary, PingTimedOut
from nocraven.diag.sockets import (
    arrival_from_ancillary,
    bind_source,
    enable_recvttl,
    enable_timestamps,
    open_icmp,
    receive_timestamps_on,
    resolve,
    ttl_from_ancillary,
    wait_readable,
)
from nocraven.diag.stats import RttStats, rounded


@dataclass
class EchoSchedule:
    """Which echo request is due, which are in flight, which have timed out."""

    count: int
    interval: float
    timeout: float
    started: float
    next_seq: int = 1
    in_flight: dict[int, float] = field(default_factory=dict)  # seq -> when it was sent
    stats: RttStats = field(default_factory=RttStats)

    def due(self, now: float) -> int | None:
        """The sequence number to send now, if one is due."""
        if self.next_seq > self.count or now < self.started + (self.next_seq - 1) * self.interval:
            return None
        seq = self.next_seq
        self.next_seq += 1
        self.in_flight[seq] = now
        return seq

    def answered(self, seq: int, now: float, measured_ms: float | None = None) -> float | None:
        """The round trip in ms, or None for a duplicate, a late or a stray reply. `measured_ms`
        (from kernel timestamps) is preferred to the time between our own send and read."""
        sent_at = self.in_flight.pop(seq, None)
        if sent_at is None:
            return None
        rtt_ms = measured_ms if measured_ms is not None and measured_ms >= 0 else (now - sent_at) * 1000.0
        self.stats.answered(rtt_ms)
        return rtt_ms

    def expired(self, now: float) -> list[int]:
        lost = sorted(seq for seq, sent_at in self.in_flight.items() if now >= sent_at + self.timeout)
        for seq in lost:
            del self.in_flight[seq]
            self.stats.lost()
        return lost

    @property
    def finished(self) -> bool:
        return self.next_seq > self.count and not self.in_flight

    def next_wakeup(self, now: float) -> float:
        """Seconds until something is due: the next send or the first timeout."""
        moments = [sent_at + self.timeout for sent_at in self.in_flight.values()]
        if self.next_seq <= self.count:
            moments.append(self.started + (self.next_seq - 1) * self.interval)
        return max(0.0, min(moments) - now) if moments else 0.0


async def ping(
    request: PingRequest,
    *,
    socket_kind: Literal["auto", "dgram", "raw"] = "auto",
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[DiagEvent]:
    req = request.checked()
    address, family = await resolve(req.host, req.ip_version)
    v6 = family == socket.AF_INET6
    await receive_timestamps_on()
    sock, kind = open_icmp(family, socket_kind)
    with sock:
        bind_source(sock, family, req.source)
        if kind == "dgram" or v6:  # a raw IPv4 socket has the TTL in the IP header already
            enable_recvttl(sock, family)
        enable_timestamps(sock)
        # A datagram socket's id is its local port, set by the kernel; a raw socket's is ours to pick.
        ident = random.randrange(1, 0x10000)
        schedule = EchoSchedule(req.count, req.interval, req.timeout, started=clock())
        rejected = 0
        sent_wall: dict[int, float] = {}  # seq -> wall-clock send time, to match kernel timestamps
        while not schedule.finished:
            now = clock()
            for seq in schedule.expired(now):
                yield PingTimedOut(seq=seq)
            due = schedule.due(now)
            if due is not None:
                packet = icmp.encode_echo_request(ident, due, icmp.echo_payload(req.size, due), v6=v6)
                # No route or a full buffer counts as a lost probe; its timeout reports it.
                sent_wall[due] = wall_clock()
                with contextlib.suppress(OSError):
                    sock.sendto(packet, (address, 0))
                continue
            if not await wait_readable(sock, schedule.next_wakeup(clock())):
                continue
            messages, undecodable = _drain(sock, v6=v6, raw=kind == "raw")
            rejected += undecodable
            for message, source, ttl, arrival in messages:
                if message.kind != "echo_reply" or message.seq is None:
                    continue
                if kind == "raw" and (message.ident != ident or source != address):
                    continue  # raw sockets see every ICMP message reaching this host
                sent = sent_wall.get(message.seq)
                measured = (arrival - sent) * 1000.0 if arrival is not None and sent is not None else None
                rtt_ms = schedule.answered(message.seq, clock(), measured)
                if rtt_ms is not None:
                    yield PingReplied(
                        seq=message.seq, address=source, rtt_ms=round(rtt_ms, 3), ttl=ttl, bytes=message.payload_len + 8
                    )
        stats = schedule.stats
        yield PingSummary(
            host=req.host,
            address=address,
            sent=stats.sent,
            received=stats.received,
            loss_pct=stats.loss_pct,
            min_ms=rounded(stats.best_ms),
            avg_ms=rounded(stats.avg_ms),
            max_ms=rounded(stats.worst_ms),
            stddev_ms=rounded(stats.stddev_ms),
            socket=kind,
            rejected=rejected,
        )


Received = tuple[icmp.IcmpMessage, str, int | None, float | None]  # message, source, TTL, arrival


def _drain(sock: socket.socket, v6: bool, raw: bool) -> tuple[list[Received], int]:
    """Every message waiting on the socket, decoded, and how many could not be decoded."""
    messages: list[Received] = []
    rejected = 0
    while True:
        try:
            data, ancdata, _flags, peer = sock.recvmsg(65535, 256)
        except (BlockingIOError, InterruptedError):
            return messages, rejected
        except OSError:
            continue  # a queued ICMP error on the socket; the probe's timeout reports it
        message = icmp.decode(data, v6=v6, ip_header=raw and not v6)
        if message is None:
            rejected += 1
            continue
        ttl = message.ttl if message.ttl is not None else ttl_from_ancillary(ancdata)
        messages.append((message, str(peer[0]), ttl, arrival_from_ancillary(ancdata)))
