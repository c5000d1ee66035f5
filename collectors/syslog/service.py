"""The syslog collector process: UDP, TCP (RFC 6587) and TLS listeners feeding the engine.

UDP is received and parsed by worker processes (`udp_worker`, one per core by default) that
share the bound socket; this process passes their records on to the engine in the order they
were received, and adds up their counters. TCP and TLS connections are accepted here, where
the limits are kept, and each is handed to one stream worker process (`stream_worker`, one
per core by default) that reads, frames and parses it, so several connections use every core
and each connection's messages keep their order. Nothing is dropped for its format; what is
refused (sender not allowed, over-long frames, too many connections) is counted per source and
reported to the engine for the drop ledger, and so are the datagrams the kernel dropped because
the workers fell behind.

The listening sockets are the engine's (`collectors.common.inherited`), or bound here when the
collector runs on its own. A port change arrives as a new socket on the control channel: it is
served at once, the old one a little longer, then closed; TCP and TLS connections accepted on
the old one stay with their stream workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import msgspec

from collectors.common import handover
from collectors.common.channel import FrameKind
from collectors.common.frames import BoundListener, Drop, ListenerCounters, PayloadDecoder
from collectors.common.harness import (
    Output,
    configure_logging,
    die_with_parent,
    read_engine_settings,
    tune_gc,
    tune_malloc,
)
from collectors.common.inflight import MAIN_SLOT, InflightBlock
from collectors.common.listen import format_address
from collectors.common.logthrottle import LogThrottle
from collectors.common.tcpinfo import bytes_received
from collectors.common.udp import kernel_drops
from collectors.common.workers import WorkerPool, default_worker_count
from collectors.syslog.connections import ConnectionTable
from collectors.syslog.fastpath import FAST_PATH_NOTICE
from collectors.syslog.pipeline import Allowlist, Stats
from collectors.syslog.settings import SyslogSettings
from collectors.syslog.stream_pool import StreamPool
from collectors.syslog.stream_worker import tls_context

log = configure_logging("syslog")

REPORT_INTERVAL_S = 1.0
# A full listener closes a connection to admit a newcomer only if it has been idle this long:
# idle slowloris connections make room, busy senders are not pushed out by a flood.
EVICT_AFTER_S = 2.0
ACCEPT_BATCH = 64  # connections accepted per wake-up before the loop serves others
FLUSH_BYTES = 256 * 1024  # one buffer segment's worth of NDJSON
FLUSH_S = 0.05
WORKER_STOP_S = 3.0  # the engine waits 5 s for the whole collector
_CONNECTION_IDS = itertools.count(1)


class UdpListener:
    """The bound UDP socket, the worker processes that receive on it, and their records on the
    way to the engine: coalesced into frames of up to FLUSH_BYTES or FLUSH_S, so the engine
    handles a few large frames rather than one per received batch."""

    def __init__(
        self,
        name: str,
        sock: socket.socket,
        settings: SyslogSettings,
        stats: Stats,
        out: Output,
        on_failure: Callable[[], None],
        drops_seen: int | None = None,
        inflight: InflightBlock | None = None,
    ) -> None:
        self.sock = sock
        self.name = name
        host, port = sock.getsockname()[:2]
        self.address = format_address(host, port)
        self.draining = False  # replaced by a port change: served a little longer, then closed
        self._stats = stats
        self._out = out
        self._payloads = PayloadDecoder()
        # An inherited socket says what was reported on it before (a restart): drops since count.
        self._drops_seen = drops_seen if drops_seen is not None else kernel_drops(self.sock) or 0
        self._pending = bytearray()
        self._received = 0  # the bytes the records in `_pending` took on the wire
        self._flush_timer: asyncio.TimerHandle | None = None
        self.workers = WorkerPool(
            "collectors.syslog.udp_worker",
            self.sock,
            name,
            settings,
            settings.udp_workers or default_worker_count(),
            self._on_records,
            self._on_frame,
            on_failure,
            self._on_lost,
            inflight,
        )

    def _on_records(self, ndjson: memoryview, received: int) -> None:
        self._pending += ndjson
        self._received += received
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._out.ndjson(self._pending, self._received)
        self._pending.clear()
        self._received = 0

    def _on_frame(self, kind: FrameKind, payload: bytes) -> None:
        if kind == FrameKind.COUNTERS:
            self._stats.add(self._payloads.counters(payload))
        else:  # drops and log lines go to the engine as the worker wrote them
            self._out.write(kind, payload)

    def _on_lost(self, datagrams: int, size: int, why: str) -> None:
        """A worker died with a batch it had taken from the socket: the ledger says so."""
        now = time.time()
        self._stats.listener(self.name)["rejected"] += datagrams
        # Sent at once, not with the next report: the pool then puts the worker's slot in the
        # counter block back to what it handed on, so a crash of this process now cannot lose
        # the batch from both.
        self._out.drops(
            [
                Drop(
                    source=None,
                    reason="collector_crash",
                    detail="worker_crashed",
                    records=datagrams,
                    bytes=size,
                    first=now,
                    last=now,
                )
            ]
        )
        log.error("syslog.%s: %d datagrams (%d bytes) lost: %s", self.name, datagrams, size, why)

    def report_kernel_drops(self, now: float) -> None:
        drops = kernel_drops(self.sock)
        if drops is None or drops <= self._drops_seen:
            return
        delta, self._drops_seen = drops - self._drops_seen, drops
        self._stats.listener(self.name)["kernel_drops"] += delta
        self._stats.rejected(self.name, None, delta, 0, "kernel_drop", now)


class StreamListener:
    """A TCP or TLS listener: accepts connections, decides which it keeps (allowlist,
    `ConnectionTable` limits, who makes room) and hands each kept one to a stream worker
    process (`StreamPool`), which reads, frames and parses it. A TLS connection counts from its
    accept, its handshake (run by the worker) included."""

    def __init__(
        self,
        name: str,
        address: str,
        settings: SyslogSettings,
        pool: StreamPool,
        stats: Stats,
        allow: Allowlist,
        throttle: LogThrottle,
    ) -> None:
        self.name = name
        self.address = address
        self.pool = pool
        self.stats = stats
        self.allow = allow
        self.throttle = throttle
        self.table: ConnectionTable[int] = ConnectionTable(
            settings.max_connections,
            settings.max_connections_per_source,
            settings.idle_timeout_s,
            EVICT_AFTER_S,
        )
        self.sock: socket.socket | None = None
        self._ips: dict[int, str] = {}
        self.draining = False  # replaced by a port change: its connections stay, it accepts no more

    @property
    def active(self) -> int:
        return len(self.table)

    def serve(self, sock: socket.socket) -> None:
        """Accept on `sock`, a bound, listening socket (the engine's, inherited or sent for a port
        change, or one bound here when the collector runs on its own)."""
        self.sock = sock
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        self.address = format_address(host, port)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self.sock is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # EMFILE and the like: said once in a while, the next accept may work
                self._warn(f"accept {exc.errno}", f"syslog.{self.name}: cannot accept a connection: {exc.strerror}")
                return
            self._admit(conn, peer)

    def _admit(self, conn: socket.socket, peer: tuple[str, int] | tuple[str, int, int, int]) -> None:
        ip = peer[0] if ":" not in peer[0] else f"[{peer[0]}]"
        source = f"{ip}:{peer[1]}"
        now = time.time()
        with conn:
            if not self.allow.allows(source):
                self.stats.rejected(self.name, ip, 1, bytes_received(conn), "sender_not_allowed", now)
                return
            decision = self.table.admit(ip, time.monotonic())
            if not decision.admitted:
                assert decision.refusal is not None
                sent = bytes_received(conn)  # what it sent before the refusal
                self.stats.rejected(self.name, ip, 1, sent, decision.refusal, now)
                self._warn(
                    decision.refusal,
                    f"syslog.{self.name}: refused {ip}: {self.active} connections held, "
                    f"{self.table.from_source(ip)} from it, none idle {EVICT_AFTER_S:g} s "
                    "(raise syslog.max_connections or max_connections_per_source if this is legitimate)",
                )
                return
            if decision.evict is not None:
                self.stats.listener(self.name)["connections_evicted"] += 1
                self._close([decision.evict])
            conn_id = next(_CONNECTION_IDS)
            if not self.pool.hand_over(conn, conn_id, self.name, source, ip):  # no worker running
                self.stats.rejected(self.name, ip, 1, bytes_received(conn), "collector_busy", now)
                return
            # The worker holds its own descriptor now; this one is closed on leaving.
            self.table.add(conn_id, ip, time.monotonic())
            self._ips[conn_id] = ip
            self.stats.listener(self.name)["connections"] += 1

    def owns(self, conn: int) -> bool:
        return conn in self._ips

    def activity(self, conn: int) -> None:
        self.table.active(conn, time.monotonic())

    def ended(self, conn: int) -> None:
        self._ips.pop(conn, None)
        self.table.remove(conn)

    def _close(self, conns: list[int]) -> None:
        for conn in conns:
            self.ended(conn)
        self.pool.close(conns)

    def close_idle(self, now_monotonic: float) -> None:
        idle = self.table.idle(now_monotonic)
        if idle:
            self.stats.listener(self.name)["connections_idle_closed"] += len(idle)
            self._close(idle)

    def stop_accepting(self) -> None:
        """Accept no more here (a port change, or the stop); the connections already handed to
        the stream workers stay until they end, are closed by the limits, or the workers stop.
        What the kernel completed but was not accepted yet is taken first, not reset."""
        self.draining = True
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._accept()
            self.sock.close()
            self.sock = None

    def _warn(self, kind: str, line: str) -> None:
        held = self.throttle.allow(kind, time.monotonic())
        if held is not None:
            log.warning("%s%s", line, f" ({held} more like it not logged)" if held else "")


class BindError(Exception):
    """A listener could not be set up; the message names it and says why."""


@contextlib.contextmanager
def bind_errors(name: str, address: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "; stop whatever holds it or choose another port" if exc.errno == errno.EADDRINUSE else ""
        raise BindError(f"syslog.{name} = {address!r}: cannot listen: {reason}{hint}") from None
    except ssl.SSLError as exc:
        raise BindError(f"syslog.{name}: cannot load the TLS certificate or key: {exc.reason or exc}") from None


def own_socket(name: str, proto: str, address: str, settings: SyslogSettings) -> tuple[socket.socket, int | None]:
    """The listener's socket: the engine's (inherited, with the kernel drops it saw reported),
    or, when run on its own, one bound here."""
    with bind_errors(name, address):
        return handover.own_socket(name, proto, address, settings.receive_buffer_bytes)


class Collector:
    """The listeners of one collector process, and the port changes the engine asks for."""

    def __init__(self, settings: SyslogSettings, out: Output) -> None:
        self.settings = settings
        self.out = out
        self.stats = Stats()
        self.allow = Allowlist(settings.allow)
        self.stop = asyncio.Event()
        self.throttle = LogThrottle()
        self.udp: list[UdpListener] = []
        self.streams: list[StreamListener] = []
        self.changes = handover.PortChanges("syslog", self.replace)
        # What the workers accepted, counted where the engine reads it if this process is killed.
        self.inflight = InflightBlock.given()
        main_slot = self.inflight.writer(MAIN_SLOT) if self.inflight is not None else None
        # One pool of stream workers for every TCP and TLS listener, a replaced one included:
        # connection ids are unique across them, so the worker's events find their listener.
        self.pool = StreamPool(
            settings,
            settings.stream_workers or default_worker_count(),
            self.stats,
            out,
            self._conn_active,
            self._conn_ended,
            self.stop.set,
            self.inflight,
            main_slot,
        )

    def bound(self) -> list[BoundListener]:
        """The listeners as served now (one being drained after a port change is not listed)."""
        return [
            *(BoundListener(listener=u.name, proto="udp", address=u.address) for u in self.udp if not u.draining),
            *(BoundListener(listener=s.name, proto="tcp", address=s.address) for s in self.streams if not s.draining),
        ]

    def udp_listener(self, sock: socket.socket, drops_seen: int | None) -> UdpListener:
        return UdpListener("udp", sock, self.settings, self.stats, self.out, self.stop.set, drops_seen, self.inflight)

    def stream_listener(self, name: str) -> StreamListener:
        settings = self.settings
        address = settings.tls if name == "tls" else settings.tcp
        return StreamListener(name, address, settings, self.pool, self.stats, self.allow, self.throttle)

    def _listener_of(self, conn: int) -> StreamListener | None:
        return next((stream for stream in self.streams if stream.owns(conn)), None)

    def _conn_active(self, conn: int) -> None:
        if (stream := self._listener_of(conn)) is not None:
            stream.activity(conn)

    def _conn_ended(self, conn: int) -> None:
        if (stream := self._listener_of(conn)) is not None:
            stream.ended(conn)

    async def start(self) -> None:
        settings = self.settings
        if settings.udp:
            sock, drops_seen = own_socket("udp", "udp", settings.udp, settings)
            self.udp.append(self.udp_listener(sock, drops_seen))
        if settings.tls:
            with bind_errors("tls", settings.tls):
                tls_context(settings)  # one that cannot load is said now, once; each worker loads its own
        for name, address in (("tcp", settings.tcp), ("tls", settings.tls)):
            if address:
                stream = self.stream_listener(name)
                sock, _ = own_socket(name, "tcp", address, settings)
                with bind_errors(name, address):
                    stream.serve(sock)
                self.streams.append(stream)
        if self.streams:
            self.pool.start()
        for listener in self.udp:
            listener.workers.start()
        self.out.ready(self.bound())

    # ---- port changes ------------------------------------------------------------------

    async def replace(self, name: str, sock: socket.socket) -> handover.Served:
        """Serve `sock` for the listener (a port change); the old socket is retired later."""
        if name == "udp":
            old_udp = next((u for u in self.udp if not u.draining), None)
            if old_udp is None:
                raise LookupError("it is not running")
            new_udp = self.udp_listener(sock, None)
            new_udp.workers.start()
            self.udp.append(new_udp)
            old_udp.draining = True
            self.out.ready(self.bound())

            async def retire_udp() -> None:
                # The workers read what the kernel still holds before they exit; then it closes.
                await old_udp.workers.stop(WORKER_STOP_S)
                old_udp.flush()
                old_udp.report_kernel_drops(time.time())
                self.udp.remove(old_udp)
                old_udp.sock.close()

            return new_udp.address, retire_udp
        if name in ("tcp", "tls"):
            old_stream = next((s for s in self.streams if s.name == name and not s.draining), None)
            if old_stream is None:
                raise LookupError("it is not running")
            new_stream = self.stream_listener(name)
            new_stream.serve(sock)
            self.streams.append(new_stream)
            old_stream.draining = True
            self.out.ready(self.bound())

            async def retire_stream() -> None:
                # Its connections stay with the stream workers until they end or the collector stops.
                old_stream.stop_accepting()

            return new_stream.address, retire_stream
        raise LookupError(f"syslog has no listener {name!r}")

    def report(self, now: float) -> None:
        for stream in self.streams:
            stream.close_idle(time.monotonic())
        for kind, held in self.throttle.held_back(time.monotonic()):
            log.warning("%d more log lines like %r not logged", held, kind)
        for listener in self.udp:
            listener.report_kernel_drops(now)
        counters = self.stats.snapshot()
        active: dict[str, int] = {}
        for stream in self.streams:
            active[stream.name] = active.get(stream.name, 0) + stream.active
        for name, count in active.items():
            stream_counters = counters.listeners.get(name, ListenerCounters())
            counters.listeners[name] = msgspec.structs.replace(stream_counters, active_connections=count)
        self.out.counters(counters)
        self.out.drops(self.stats.take_drops())
        # A listener replaced by a port change goes once its last connection has ended.
        self.streams = [s for s in self.streams if s.sock is not None or s.active]

    async def finish(self) -> None:
        self.changes.cancel()
        for stream in self.streams:
            stream.stop_accepting()
        # What TCP senders sent before the stop, the kernel acknowledged: the stream workers read
        # it and keep it; the UDP workers send what the kernel still held. Both at once.
        await asyncio.gather(
            self.pool.stop(WORKER_STOP_S), *(listener.workers.stop(WORKER_STOP_S) for listener in self.udp)
        )
        for listener in self.udp:
            listener.flush()
        self.report(time.time())


async def serve(settings: SyslogSettings, out: Output) -> None:
    collector = Collector(settings, out)
    await collector.start()
    control = handover.control_channel()
    if control is not None:
        collector.changes.listen(control)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(throttled_exception_handler(collector.throttle))
    stop = collector.stop
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()
    try:
        while not stop.is_set() and not out.broken:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL_S)
            collector.report(time.time())
    finally:
        await collector.finish()
    for listener in collector.udp:
        if listener.workers.failure:
            raise WorkerFailed(f"syslog.{listener.name}: {listener.workers.failure}; restarting the collector")
    if collector.pool.failure:
        raise WorkerFailed(f"syslog: {collector.pool.failure}; restarting the collector")


def throttled_exception_handler(
    throttle: LogThrottle,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, object]], None]:
    """asyncio's errors (an accept failing with EMFILE, a transport that broke) as one line
    each, rate-limited: under attack the default handler writes a traceback per event."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        message = str(context.get("message") or "asyncio error")
        exc = context.get("exception")
        kind = f"{message}: {type(exc).__name__}" if exc is not None else message
        held = throttle.allow(kind, time.monotonic())
        if held is not None:
            log.error("%s%s%s", message, f": {exc}" if exc else "", f" ({held} more not logged)" if held else "")

    return handle


class WorkerFailed(Exception):
    """UDP worker processes kept dying (one death is handled by the pool, which replaces the
    worker); the collector exits so the engine restarts all of it with its backoff."""


def main() -> None:
    die_with_parent()
    tune_malloc()
    settings = read_engine_settings(SyslogSettings)
    out = Output()
    if FAST_PATH_NOTICE is not None:
        out.log("warning", FAST_PATH_NOTICE)
    try:
        asyncio.run(serve(settings, out))
    except (BindError, WorkerFailed) as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.log("error", str(exc))
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
