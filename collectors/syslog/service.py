"""The syslog collector process: UDP, TCP (RFC 6587) and TLS listeners feeding the engine.

UDP is received and parsed by worker processes (`udp_worker`, one per core by default) that
share the bound socket; this process passes their records on to the engine in the order they
were received, and adds up their counters. TCP and TLS connections are accepted here, where
the limits are kept, and each is handed to one stream worker process (`stream_worker`, one
per core by default) that reads, frames and parses it, so several connections use every core
and each connection's messages keep their order. Nothing is dropped for its format; what is refused (sender not allowed,
over-long frames, too many connections) is counted per source and reported to the engine for
the drop ledger, and so are the datagrams the kernel dropped because the workers fell behind.
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

from collectors.common.channel import FrameKind
from collectors.common.frames import BoundListener, ListenerCounters, PayloadDecoder
from collectors.common.harness import (
    Output,
    configure_logging,
    die_with_parent,
    read_engine_settings,
    tune_gc,
    tune_malloc,
)
from collectors.common.logthrottle import LogThrottle
from collectors.common.tcpinfo import bytes_received
from collectors.common.udp import kernel_drops, set_receive_buffer
from collectors.common.workers import WorkerPool, default_worker_count
from collectors.syslog.connections import ConnectionTable
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


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class UdpListener:
    """The bound UDP socket, the worker processes that receive on it, and their records on the
    way to the engine: coalesced into frames of up to FLUSH_BYTES or FLUSH_S, so the engine
    handles a few large frames rather than one per received batch."""

    def __init__(
        self,
        name: str,
        address: str,
        settings: SyslogSettings,
        stats: Stats,
        out: Output,
        on_failure: Callable[[], None],
    ) -> None:
        host, port = split_host_port(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        wanted = settings.receive_buffer_bytes
        granted = set_receive_buffer(self.sock, wanted) // 2  # Linux reports twice what it was asked
        if granted < wanted:
            log.warning(
                "syslog.%s: receive buffer is %d bytes, not the %d configured: net.core.rmem_max caps it "
                "for a process that is not root; raise that sysctl, or expect drops in bursts",
                name,
                granted,
                wanted,
            )
        if family == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.bind((host, port))
        self.name = name
        self.address = (
            f"{host}:{self.sock.getsockname()[1]}"
            if family == socket.AF_INET
            else f"[{host}]:{self.sock.getsockname()[1]}"
        )
        self._stats = stats
        self._out = out
        self._payloads = PayloadDecoder()
        self._drops_seen = kernel_drops(self.sock) or 0
        self._pending = bytearray()
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
        )

    def _on_records(self, ndjson: memoryview) -> None:
        self._pending += ndjson
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._out.ndjson(self._pending)
        self._pending.clear()

    def _on_frame(self, kind: FrameKind, payload: bytes) -> None:
        if kind == FrameKind.COUNTERS:
            self._stats.add(self._payloads.counters(payload))
        else:  # drops and log lines go to the engine as the worker wrote them
            self._out.write(kind, payload)

    def _on_lost(self, datagrams: int, size: int, why: str) -> None:
        """A worker died with a batch it had taken from the socket: the ledger says so."""
        self._stats.rejected(self.name, None, datagrams, size, "worker_crashed", time.time())
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

    @property
    def active(self) -> int:
        return len(self.table)

    def bind(self) -> None:
        host, port = split_host_port(self.address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind((host, port))
            sock.listen(512)
        except OSError:
            sock.close()
            raise
        self.serve(sock)

    def serve(self, sock: socket.socket) -> None:
        """Accept on a bound, listening socket (bound here by `bind`, or handed over)."""
        self.sock = sock
        sock.setblocking(False)
        host = split_host_port(self.address)[0]
        bound = sock.getsockname()
        self.address = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"
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
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
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


async def serve(settings: SyslogSettings, out: Output) -> None:
    stats = Stats()
    allow = Allowlist(settings.allow)
    stop = asyncio.Event()
    throttle = LogThrottle()
    udp: list[UdpListener] = []
    streams: list[StreamListener] = []

    def listener_of(conn: int) -> StreamListener | None:
        return next((stream for stream in streams if stream.owns(conn)), None)

    def active(conn: int) -> None:
        if (stream := listener_of(conn)) is not None:
            stream.activity(conn)

    def ended(conn: int) -> None:
        if (stream := listener_of(conn)) is not None:
            stream.ended(conn)

    pool = StreamPool(settings, settings.stream_workers or default_worker_count(), stats, out, active, ended, stop.set)
    if settings.udp:
        with bind_errors("udp", settings.udp):
            udp.append(UdpListener("udp", settings.udp, settings, stats, out, stop.set))
    if settings.tcp:
        streams.append(StreamListener("tcp", settings.tcp, settings, pool, stats, allow, throttle))
    if settings.tls:
        with bind_errors("tls", settings.tls):
            tls_context(settings)  # a certificate or key that cannot load is said now, once
        streams.append(StreamListener("tls", settings.tls, settings, pool, stats, allow, throttle))
    for stream in streams:
        with bind_errors(stream.name, stream.address):
            stream.bind()
    if streams:
        pool.start()
    for listener in udp:
        listener.workers.start()
    out.ready(
        [
            *(BoundListener(listener=u.name, proto="udp", address=u.address) for u in udp),
            *(BoundListener(listener=s.name, proto="tcp", address=s.address) for s in streams),
        ]
    )
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(throttled_exception_handler(throttle))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()

    def report(now: float) -> None:
        for stream in streams:
            stream.close_idle(time.monotonic())
        for kind, held in throttle.held_back(time.monotonic()):
            log.warning("%d more log lines like %r not logged", held, kind)
        for listener in udp:
            listener.report_kernel_drops(now)
        counters = stats.snapshot()
        for stream in streams:
            stream_counters = counters.listeners.get(stream.name, ListenerCounters())
            counters.listeners[stream.name] = msgspec.structs.replace(stream_counters, active_connections=stream.active)
        out.counters(counters)
        out.drops(stats.take_drops())

    try:
        while not stop.is_set() and not out.broken:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPORT_INTERVAL_S)
            report(time.time())
    finally:
        for stream in streams:
            stream.stop_accepting()
        # What TCP senders sent before the stop, the kernel acknowledged: the stream workers read
        # it and keep it; the UDP workers send what the kernel still held. Both at once.
        await asyncio.gather(pool.stop(WORKER_STOP_S), *(listener.workers.stop(WORKER_STOP_S) for listener in udp))
        for listener in udp:
            listener.flush()
        report(time.time())
    for listener in udp:
        if listener.workers.failure:
            raise WorkerFailed(f"syslog.{listener.name}: {listener.workers.failure}; restarting the collector")
    if pool.failure:
        raise WorkerFailed(f"syslog: {pool.failure}; restarting the collector")


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
    try:
        asyncio.run(serve(settings, out))
    except (BindError, WorkerFailed) as exc:
        # One clear line for the engine's log and status; the engine retries with backoff.
        out.log("error", str(exc))
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
