"""The SNMP trap collector process: the `[snmptrap]` UDP listener feeding the engine.

One receive loop on the main thread: recvmmsg batches (`collectors.common.udp`) through the
sans-IO `TrapReceiver`, records coalesced into frames for the buffer's `trap` service. SNMPv3
Reports go back at once (rate-limited, `acks.ReportLimit`). An INFORM's acknowledgement waits
until the engine says the batch holding its record is committed (RECORDS_DURABLE out, DURABLE
back on stdin, `collectors.common.durable`); while one such commit is under way the next
INFORMs gather, so a storm of INFORMs costs one commit per round trip, not one per INFORM.
Acks go out from the bound socket (the address the sender wrote to) in arrival order
(`acks.AckQueue`), on the thread that reads the engine's answers.

The socket is bound before the MIBs load (about 5 s): traps sent meanwhile, or during a restart
after `nocraven traps mibs add`, wait in the kernel's receive buffer instead of being refused.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import msgspec

from collectors.common.durable import Durability, read_engine_frames
from collectors.common.frames import BoundListener, Counters, Drop, ListenerCounters, SourceCounters
from collectors.common.handover import answer, control_channel, poll_rebind
from collectors.common.harness import (
    Output,
    configure_logging,
    die_with_parent,
    read_engine_settings,
    tune_gc,
    tune_malloc,
)
from collectors.common.inherited import Rebound, adopt, inherited
from collectors.common.settings import parse_listen
from collectors.common.udp import BatchReceiver, kernel_drops, set_receive_buffer
from collectors.snmptrap.acks import AckQueue, ReportLimit
from collectors.snmptrap.report import RECEIVE_BUFFER_BYTES, MibStatus, ReceiveCounters, TrapReport, TrapSetup

if TYPE_CHECKING:
    from collectors.snmptrap.receiver import TrapReceiver

log = configure_logging("snmptrap")

BATCH = 256
RECEIVE_TIMEOUT_S = 0.02  # how late a quiet loop flushes and notices a stop
FLUSH_BYTES = 256 * 1024  # one buffer segment's worth of NDJSON
FLUSH_S = 0.05
REPORT_INTERVAL_S = 1.0
REPORTS_PER_S = 200.0  # SNMPv3 discovery / time-window Reports, all peers together
REPORT_BURST = 100

Peer = tuple[str, int]
Ack = tuple[bytes, Peer, socket.socket]  # the answer goes out from the socket the request came to


class BindError(Exception):
    """The listener could not be set up; the message names it and says why."""


def bind(address: str) -> socket.socket:
    host, port = parse_listen(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        granted = set_receive_buffer(sock, RECEIVE_BUFFER_BYTES) // 2  # Linux reports double
        if granted < RECEIVE_BUFFER_BYTES:
            log.warning(
                "snmptrap.udp: receive buffer is %d bytes, not %d: net.core.rmem_max caps it for a process "
                "that is not root; raise that sysctl, or expect kernel drops in trap storms",
                granted,
                RECEIVE_BUFFER_BYTES,
            )
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = "; stop whatever holds it (snmptrapd?) or choose another port" if exc.errno == errno.EADDRINUSE else ""
        raise BindError(f"snmptrap.udp = {address!r}: cannot listen: {exc.strerror or exc}{hint}") from None
    return sock


def engine_socket() -> tuple[socket.socket | None, int | None]:
    """The socket the engine bound for `snmptrap.udp` (it keeps it across our restarts, with
    what the kernel queued meanwhile) and the kernel drops reported on it; None when run alone."""
    given = inherited().listeners.get("udp")
    if given is None:
        return None, None
    return adopt(given.fd), given.drops_seen


def bound_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


class _Pending:
    """Records received since the last frame, and the acks that wait on them."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.received = 0  # the bytes of the datagrams the records came from
        self.acks: list[Ack] = []
        self.since = 0.0

    def add(self, ndjson: bytes, acks: list[Ack], now: float, received: int = 0) -> None:
        if not self.chunks and not self.acks:
            self.since = now
        if ndjson:
            self.chunks.append(ndjson)
            self.size += len(ndjson)
            self.received += received
        self.acks += acks

    def take(self) -> tuple[bytes, list[Ack], int]:
        ndjson, acks, received = b"".join(self.chunks), self.acks, self.received
        self.chunks, self.size, self.acks, self.received = [], 0, [], 0
        return ndjson, acks, received

    def __bool__(self) -> bool:
        return bool(self.chunks or self.acks)


class _Draining:
    """A socket replaced by a port change: still read until `until`, then read empty and closed."""

    def __init__(self, sock: socket.socket, receiver: BatchReceiver, until: float) -> None:
        self.sock = sock
        self.receiver = receiver
        self.until = until


class TrapService:
    """The receive loop around one bound socket and one `TrapReceiver`."""

    def __init__(self, sock: socket.socket, trap: TrapReceiver, out: Output, mibs: MibStatus, started: float) -> None:
        self.sock = sock
        self.trap = trap
        self.out = out
        self.mibs = mibs
        self.started = started
        self.durability = Durability(out.write)
        self.receiver = BatchReceiver(sock, batch=BATCH, timeout_s=RECEIVE_TIMEOUT_S)
        self.acks: AckQueue[Ack] = AckQueue()
        self.reports = ReportLimit(REPORTS_PER_S, REPORT_BURST)
        self.stopping = False
        self.datagrams = 0
        self.kernel_drops = 0
        self._drops_seen = kernel_drops(sock) or 0
        self._bytes: dict[str, int] = {}  # accepted bytes per agent IP
        self._drops: dict[tuple[str | None, str], list[float]] = {}  # (source, detail) -> records, bytes, first, last
        self._peers: dict[str, Peer] = {}
        self._encode_lines = msgspec.json.Encoder().encode_lines
        # The pending batch and the durable sends are shared with the thread that reads the
        # engine's answers (it flushes INFORMs that gathered while a commit was under way).
        self._lock = threading.RLock()  # reentrant: a closed channel answers `send` inline
        self._pending = _Pending()
        self._batches = 0  # durable batches sent
        self._in_flight = 0  # durable batches the engine has not answered yet
        self._last_report = b""
        self.control: socket.socket | None = None  # the engine's port changes (a Rebind with the new socket)
        self._draining: list[_Draining] = []

    # ---- receiving --------------------------------------------------------------------------

    def run(self, engine_fd: int | None = 0) -> None:
        """Receive until stopped. The engine's answers are read from `engine_fd` (stdin); a test
        passes None and answers through `durability.confirm` itself."""
        if engine_fd is not None:
            read_engine_frames(engine_fd, self.durability, on_end=self.stop)
        next_report = time.monotonic() + REPORT_INTERVAL_S
        while not self.stopping and not self.out.broken:
            self._take(self.receiver, self.sock, wait=True)
            if self.control is not None:
                self._port_changes(self.control)
            if self._draining:
                self._drain(time.monotonic())
            self._flush(time.time())
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + REPORT_INTERVAL_S
                self.report(time.time())
        # What the kernel already accepted is taken before going; acks the engine can no longer
        # confirm are withheld (the senders retransmit to the next collector).
        self._drain(float("inf"))
        while not self.out.broken and self._take(self.receiver, self.sock, wait=False):
            pass
        self._flush(time.time(), force=True)
        self.report(time.time())

    def stop(self) -> None:
        self.stopping = True

    # ---- port changes -----------------------------------------------------------------------

    def _port_changes(self, control: socket.socket) -> None:
        received = poll_rebind(control, "snmptrap")
        if received is None:
            return
        request, sock = received
        if request.listener != "udp":
            sock.close()
            answer(control, Rebound(listener=request.listener, ok=False, error="snmptrap has only the udp listener"))
            return
        self.replace(sock, request.drain_s)
        answer(control, Rebound(listener="udp", ok=True, address=bound_address(sock)))
        log.info(
            "snmptrap.udp: now listening on %s; the old socket is served %.1f s more",
            bound_address(sock),
            request.drain_s,
        )

    def reported_drops(self, drops_seen: int) -> None:
        """An inherited socket (a restart): the kernel drops reported on it before are not new."""
        self._drops_seen = drops_seen

    def replace(self, sock: socket.socket, drain_s: float) -> None:
        """Receive on `sock` from now on; the old socket is read `drain_s` longer, then emptied
        and closed (its kernel drops are counted before it goes)."""
        self._count_kernel_drops(time.time())
        old = _Draining(self.sock, self.receiver, time.monotonic() + drain_s)
        self._draining.append(old)
        self.sock = sock
        self.receiver = BatchReceiver(sock, batch=BATCH, timeout_s=RECEIVE_TIMEOUT_S)
        self._drops_seen = kernel_drops(sock) or 0
        self.out.ready([BoundListener(listener="udp", proto="udp", address=bound_address(sock))])

    def _drain(self, now: float) -> None:
        for old in list(self._draining):
            while not self.out.broken and self._take(old.receiver, old.sock, wait=False):
                pass
            if now >= old.until:
                self._draining.remove(old)
                with self._lock:  # acks still due go out from it: close it after them
                    due = itertools.chain(self.acks.pending(), self._pending.acks)
                    waiting = any(ack[2] is old.sock for ack in due)
                if waiting:
                    old.until = now + RECEIVE_TIMEOUT_S
                    self._draining.append(old)
                else:
                    old.sock.close()

    def _peer(self, sender: str) -> Peer:
        peer = self._peers.get(sender)
        if peer is None:
            if len(self._peers) > 100_000:
                self._peers.clear()
            host, _, port = sender.rpartition(":")
            peer = self._peers[sender] = (host.strip("[]"), int(port))
        return peer

    def _take(self, receiver: BatchReceiver, sock: socket.socket, wait: bool) -> bool:
        try:
            datagrams, senders = receiver.receive(wait)
        except OSError as exc:
            log.error("snmptrap.udp: receive failed: %s", exc)
            self.stopping = True
            return False
        if not datagrams:
            return False
        now = time.time()
        self.datagrams += len(datagrams)
        handle = self.trap.handle
        records: list[dict[str, Any]] = []
        acks: list[Ack] = []
        accepted = self._bytes
        received = 0
        for datagram, sender in zip(datagrams, senders, strict=True):
            peer = self._peer(sender)
            handled = handle(datagram, peer, now)
            if handled.records:
                records += handled.records
                accepted[peer[0]] = accepted.get(peer[0], 0) + len(datagram)
                received += len(datagram)
            if handled.ack is not None:
                acks.append((handled.ack, peer, sock))
            if handled.reply is not None and self.reports.allow(now):
                self._send(handled.reply, peer, sock)
            if handled.refused is not None:
                self._drop(peer[0], handled.refused, len(datagram), now)
        ndjson = self._encode_lines(records) if records else b""
        with self._lock:
            self._pending.add(ndjson, acks, now, received)
        return True

    def _send(self, datagram: bytes, peer: Peer, sock: socket.socket) -> None:
        try:
            sock.sendto(datagram, peer)
        except OSError as exc:  # an unroutable peer costs its answer, not the receiver
            log.debug("snmptrap: cannot answer %s: %s", peer, exc)

    def _drop(self, source: str | None, detail: str, size: int, now: float) -> None:
        entry = self._drops.get((source, detail))
        if entry is None:
            if len(self._drops) >= 1024:
                source = None
                entry = self._drops.get((source, detail))
            if entry is None:
                entry = self._drops[(source, detail)] = [0, 0, now, now]
        entry[0] += 1
        entry[1] += size
        entry[3] = now

    # ---- to the engine ----------------------------------------------------------------------

    def _flush(self, now: float, force: bool = False) -> None:
        with self._lock:
            pending = self._pending
            if not pending:
                return
            if pending.acks:
                # INFORMs: at once if no commit is under way, else they ride on the next one.
                if force or self._in_flight == 0 or pending.size >= FLUSH_BYTES:
                    self._send_durable()
            elif force or pending.size >= FLUSH_BYTES or now - pending.since >= FLUSH_S:
                ndjson, _, received = pending.take()
                self.out.ndjson(ndjson, received)

    def _send_durable(self) -> None:
        """Send the pending batch as RECORDS_DURABLE (the lock is held)."""
        ndjson, acks, received = self._pending.take()
        self._batches += 1
        batch = self._batches
        self._in_flight += 1
        self.acks.add(batch, acks)
        self.durability.send(ndjson[:-1] if ndjson else b"", lambda stored: self._confirmed(batch, stored), received)

    def _confirmed(self, batch: int, stored: bool) -> None:
        """The engine's answer (on the engine-frames thread, or inline once the engine is gone)."""
        with self._lock:
            self._in_flight -= 1
            ready = self.acks.confirmed(batch, stored)
            if self._pending.acks and not self.durability.closed:
                self._send_durable()
        for ack, peer, sock in ready:
            self._send(ack, peer, sock)

    def _count_kernel_drops(self, now: float) -> None:
        drops = kernel_drops(self.sock)
        if drops is not None and drops > self._drops_seen:
            delta, self._drops_seen = drops - self._drops_seen, drops
            self.kernel_drops += delta
            entry = self._drops.setdefault((None, "kernel_drop"), [0, 0, now, now])
            entry[0] += delta
            entry[3] = now

    def report(self, now: float) -> None:
        self._count_kernel_drops(now)
        snapshot = self.trap.counters.snapshot()
        totals = snapshot["totals"]
        agents: dict[str, dict[str, Any]] = snapshot["agents"]
        accepted = totals["traps"] + totals["informs"]
        listener = ListenerCounters(
            messages=accepted,
            bytes=sum(self._bytes.values()),
            rejected=totals["refused"] + totals["malformed"] + self.kernel_drops,
            kernel_drops=self.kernel_drops,
        )
        sources = {
            ip: SourceCounters(
                messages=agent["traps"] + agent["informs"],
                bytes=self._bytes.get(ip, 0),
                rejected=sum(agent["refused"].values()) + agent["malformed"],
                formats={agent["last_version"]: agent["traps"] + agent["informs"]} if agent["last_version"] else {},
                last_seen=agent["last_seen"] or 0.0,
            )
            for ip, agent in agents.items()
        }
        self.out.counters(Counters(listeners={"udp": listener}, sources=sources))
        self._report_drops()
        with self._lock:
            waiting = self.acks.waiting()
        receive = ReceiveCounters(
            datagrams=self.datagrams,
            kernel_drops=self.kernel_drops,
            acks_sent=self.acks.sent,
            acks_withheld=self.acks.withheld,
            reports_sent=self.reports.sent,
            reports_suppressed=self.reports.suppressed,
            informs_waiting=waiting,
        )
        report = msgspec.convert(
            {
                "started": self.started,
                "totals": totals,
                "agents": agents,
                "last_malformed": snapshot["last_malformed"],
                "receive": receive,
                "mibs": self.mibs,
            },
            TrapReport,
            from_attributes=True,
        )
        encoded = msgspec.json.encode(report)
        if encoded != self._last_report:  # a quiet receiver sends nothing new
            self._last_report = encoded
            self.out.detail(report)

    def _report_drops(self) -> None:
        drops = [
            Drop(
                source=source,
                reason="kernel_drop" if detail == "kernel_drop" else "rejected_input",
                detail=detail,
                records=int(entry[0]),
                bytes=int(entry[1]),
                first=entry[2],
                last=entry[3],
            )
            for (source, detail), entry in self._drops.items()
        ]
        self._drops.clear()
        self.out.drops(drops)


def idle(out: Output, started: float) -> None:
    """`snmptrap.udp` is empty: no listener, nothing loaded; wait for the engine to stop us."""
    stop = threading.Event()
    durability = Durability(out.write)
    read_engine_frames(0, durability, on_end=stop.set)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    out.ready([])
    out.detail(TrapReport(started=started))
    stop.wait()


def main() -> None:
    die_with_parent()
    tune_malloc()
    setup = read_engine_settings(TrapSetup)
    out = Output()
    started = time.time()
    settings = setup.settings
    if not settings.udp:
        idle(out, started)
        return
    try:
        sock, drops_seen = engine_socket()
        if sock is None:
            sock = bind(settings.udp)
    except BindError as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.log("error", str(exc))
        raise SystemExit(3) from None
    from collectors.snmptrap.startup import open_receiver  # pysnmp: only for a receiver that listens

    mib_dir = setup.mib_dir or settings.mib_dir
    opened = open_receiver(dataclasses.replace(settings, mib_dir=mib_dir), Path(setup.state_dir), started)
    for problem in opened.problems:
        out.log("warning", problem)
    resolver = opened.receiver.resolver
    mibs = MibStatus(
        loaded=len(resolver.loaded) if resolver else 0,
        operator=opened.operator_mibs,
        mib_dir=mib_dir,
        problems=opened.problems,
    )
    service = TrapService(sock, opened.receiver, out, mibs, started)
    if drops_seen is not None:
        service.reported_drops(drops_seen)
    service.control = control_channel()
    if service.control is not None:
        service.control.setblocking(False)

    def stop(signum: int, frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tune_gc()  # the loaded MIBs are frozen out of the collector's scans
    out.ready([BoundListener(listener="udp", proto="udp", address=bound_address(sock))])
    service.report(time.time())
    service.run()


if __name__ == "__main__":
    main()
