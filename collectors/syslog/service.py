"""The syslog collector process: UDP, TCP (RFC 6587) and TLS listeners feeding the engine.

UDP is received and parsed by worker processes (`udp_worker`, one per core by default) that
share the bound socket; this process passes their records on to the engine in the order they
were received, and adds up their counters. TCP and TLS connections run on asyncio here, one
framer per connection. Nothing is dropped for its format; what is refused (sender not allowed,
over-long frames, too many connections) is counted per source and reported to the engine for
the drop ledger, and so are the datagrams the kernel dropped because the workers fell behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
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
from collectors.common.inherited import Rebind, Rebound, adopt, inherited, receive_rebind
from collectors.common.listen import bind_socket, format_address
from collectors.common.logthrottle import LogThrottle
from collectors.common.tcpinfo import bytes_received
from collectors.common.udp import kernel_drops
from collectors.common.workers import WorkerPool, default_worker_count
from collectors.syslog.connections import ConnectionTable
from collectors.syslog.framing import SyslogFramer
from collectors.syslog.pipeline import Allowlist, Pipeline, Stats
from collectors.syslog.settings import SyslogSettings

log = configure_logging("syslog")

REPORT_INTERVAL_S = 1.0
# A full listener closes a connection to admit a newcomer only if it has been idle this long:
# idle slowloris connections make room, busy senders are not pushed out by a flood.
EVICT_AFTER_S = 2.0
DRAIN_S = 0.5  # at stop, how long connections may keep delivering what the kernel holds
DRAIN_QUIET_S = 0.05
FLUSH_BYTES = 256 * 1024  # one buffer segment's worth of NDJSON
FLUSH_S = 0.05
WORKER_STOP_S = 3.0  # the engine waits 5 s for the whole collector


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
        sock: socket.socket,
        settings: SyslogSettings,
        stats: Stats,
        out: Output,
        on_failure: Callable[[], None],
        drops_seen: int | None = None,
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


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: bytes in, framed messages through the pipeline. A TLS
    connection is accepted as TCP (so it counts against the limits during its handshake),
    then upgraded with a bounded handshake."""

    def __init__(self, server: StreamListener) -> None:
        self._server = server
        self._framer = SyslogFramer(server.max_message_bytes)
        self.source = "unknown"  # "IP:PORT"
        self.ip = "unknown"  # what limits and the ledger count by
        self.transport: asyncio.Transport | None = None
        self.open = False  # holds a place in the connection table
        self.handshaking = False
        self.bytes_in = 0
        self._errors_reported = 0
        self._dropped_reported = 0
        self._discarded_reported = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.ip = peer[0] if ":" not in peer[0] else f"[{peer[0]}]"
            self.source = f"{self.ip}:{peer[1]}"
        if not self._server.admit(self, transport):
            transport.abort()
            return
        if self._server.tls is not None:
            transport.pause_reading()  # the TLS layer reads from here on, once it is in place
            self.handshaking = True
            self._server.handshakes.add(asyncio.ensure_future(self._handshake(transport, self._server.tls)))

    async def _handshake(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        server = self._server
        # A second descriptor for the handshake only: when it fails, asyncio closes the socket
        # before telling us, and what the client sent is read from the kernel afterwards.
        probe = _dup_socket(raw)
        try:
            tls = await asyncio.get_running_loop().start_tls(
                raw, self, context, server_side=True, ssl_handshake_timeout=server.handshake_timeout_s
            )
        except Exception as exc:  # a failed or timed-out handshake, or the connection went away
            self.handshaking = False
            raw.abort()
            if self.open:  # not evicted meanwhile: the client's handshake failed
                server.handshake_failed(self, exc, bytes_received(probe))
                server.release(self)
            return
        finally:
            if probe is not None:
                probe.close()
            server.handshakes.discard(asyncio.current_task())
        self.handshaking = False
        if tls is None or not self.open:
            raw.abort()
            return
        self.transport = tls

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        messages = self._framer.feed(data)
        if messages:
            self._server.table.active(self, time.monotonic())
        self._deliver(messages)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_out()

    def close_out(self) -> None:
        """Deliver what the connection still holds (a trailing message without terminator) and
        give up its place. Idempotent: eviction, the idle sweep and connection_lost all end here."""
        if self.open:
            self._server.release(self)
            self._deliver(self._framer.flush())

    def abort(self) -> None:
        """Close from our side (eviction, idle, stop): what was received is kept."""
        self.close_out()
        if self.transport is not None:
            self.transport.abort()

    def _deliver(self, messages: list[bytes]) -> None:
        self._report_framing()
        if messages:
            server = self._server
            senders = [self.source] * len(messages)
            server.out.ndjson(server.pipeline.handle(server.name, messages, senders, time.time()))

    def _report_framing(self) -> None:
        framer = self._framer
        if framer.errors == self._errors_reported and framer.discarded_bytes == self._discarded_reported:
            return
        server = self._server
        server.stats.listener(server.name)["framing_errors"] += framer.errors - self._errors_reported
        # Records: frames lost whole; bytes: every byte dropped (a truncated line loses bytes only).
        server.stats.rejected(
            server.name,
            self.ip,
            framer.dropped_frames - self._dropped_reported,
            framer.discarded_bytes - self._discarded_reported,
            "framing_error",
            time.time(),
        )
        self._errors_reported = framer.errors
        self._dropped_reported = framer.dropped_frames
        self._discarded_reported = framer.discarded_bytes


def _dup_socket(transport: asyncio.Transport) -> socket.socket | None:
    sock = transport.get_extra_info("socket")
    try:
        return socket.socket(fileno=os.dup(sock.fileno())) if sock is not None else None
    except OSError:
        return None


class StreamListener:
    """A TCP or TLS listener and the connections it holds (`ConnectionTable` decides)."""

    def __init__(
        self,
        name: str,
        address: str,
        settings: SyslogSettings,
        pipeline: Pipeline,
        out: Output,
        stats: Stats,
        allow: Allowlist,
        tls: ssl.SSLContext | None,
        throttle: LogThrottle,
    ) -> None:
        self.name = name
        self.address = address
        self.pipeline = pipeline
        self.out = out
        self.stats = stats
        self.allow = allow
        self.tls = tls
        self.throttle = throttle
        self.max_message_bytes = settings.max_message_bytes
        self.handshake_timeout_s = settings.tls_handshake_timeout_s
        self.table: ConnectionTable[StreamProtocol] = ConnectionTable(
            settings.max_connections,
            settings.max_connections_per_source,
            settings.idle_timeout_s,
            EVICT_AFTER_S,
        )
        self.handshakes: set[asyncio.Future[None]] = set()
        self.server: asyncio.Server | None = None
        self.draining = False

    @property
    def active(self) -> int:
        return len(self.table)

    async def start(self, sock: socket.socket) -> None:
        """Serve on `sock`, a listening socket (the engine's, inherited, or one bound here)."""
        # TLS is started per connection (StreamProtocol._handshake), not by the server: the
        # server's own handshakes would run before the connection counts against the limits.
        self.server = await asyncio.get_running_loop().create_server(lambda: StreamProtocol(self), sock=sock)
        host, port = sock.getsockname()[:2]
        self.address = format_address(host, port)

    def stop_accepting(self) -> None:
        """A port change: the new listener accepts from now on; connections held here stay."""
        self.draining = True
        if self.server is not None:
            self.server.close()

    def admit(self, conn: StreamProtocol, transport: asyncio.Transport) -> bool:
        now = time.time()
        if not self.allow.allows(conn.source):
            sent = bytes_received(transport.get_extra_info("socket"))
            self.stats.rejected(self.name, conn.ip, 1, sent, "sender_not_allowed", now)
            return False
        decision = self.table.admit(conn.ip, time.monotonic())
        if not decision.admitted:
            assert decision.refusal is not None
            sent = bytes_received(transport.get_extra_info("socket"))  # what it sent before the refusal
            self.stats.rejected(self.name, conn.ip, 1, sent, decision.refusal, now)
            self._warn(
                decision.refusal,
                f"syslog.{self.name}: refused {conn.ip}: {self.active} connections held, "
                f"{self.table.from_source(conn.ip)} from it, none idle {EVICT_AFTER_S:g} s "
                "(raise syslog.max_connections or max_connections_per_source if this is legitimate)",
            )
            return False
        if decision.evict is not None:
            self.stats.listener(self.name)["connections_evicted"] += 1
            decision.evict.abort()
        self.table.add(conn, conn.ip, time.monotonic())
        conn.open = True
        self.stats.listener(self.name)["connections"] += 1
        return True

    def release(self, conn: StreamProtocol) -> None:
        conn.open = False
        self.table.remove(conn)

    def handshake_failed(self, conn: StreamProtocol, exc: Exception, sent: int) -> None:
        self.stats.listener(self.name)["handshake_failures"] += 1
        self.stats.rejected(self.name, conn.ip, 1, sent, "tls_handshake_failed", time.time())
        reason = getattr(exc, "reason", None) or type(exc).__name__
        self._warn(f"handshake {reason}", f"syslog.{self.name}: TLS handshake with {conn.ip} failed: {reason}")

    def close_idle(self, now_monotonic: float) -> None:
        for conn in self.table.idle(now_monotonic):
            self.stats.listener(self.name)["connections_idle_closed"] += 1
            conn.abort()

    async def stop(self, drain_s: float) -> None:
        """Stop accepting, read what the kernel already holds for every connection (a sender's
        last batch, acknowledged by TCP), then close them all, keeping their trailing messages."""
        if self.server is not None:
            self.server.close()
        deadline = time.monotonic() + drain_s
        while self.active and time.monotonic() < deadline:
            before = sum(c.bytes_in for c in self.table)
            await asyncio.sleep(DRAIN_QUIET_S)
            if sum(c.bytes_in for c in self.table) == before:
                break
        for conn in list(self.table):
            conn.abort()
        for handshake in list(self.handshakes):
            handshake.cancel()

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


def tls_context(settings: SyslogSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        context.load_verify_locations(settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def own_socket(name: str, proto: str, address: str, settings: SyslogSettings) -> tuple[socket.socket, int | None]:
    """The listener's socket: the engine's (inherited, with the kernel drops it saw reported),
    or, when run on its own, one bound here."""
    given = inherited().listeners.get(name)
    if given is not None:
        return adopt(given.fd), given.drops_seen
    host, port = split_host_port(address)
    with bind_errors(name, address):
        sock, _granted = bind_socket(proto, host, port, settings.receive_buffer_bytes if proto == "udp" else 0)
    return sock, None


class Collector:
    """The listeners of one collector process, and the port changes the engine asks for."""

    def __init__(self, settings: SyslogSettings, out: Output) -> None:
        self.settings = settings
        self.out = out
        self.stats = Stats()
        self.allow = Allowlist(settings.allow)
        self.pipeline = Pipeline(self.stats, self.allow)
        self.stop = asyncio.Event()
        self.throttle = LogThrottle()
        self.udp: list[UdpListener] = []
        self.streams: list[StreamListener] = []
        self.changes: set[asyncio.Task[None]] = set()

    def bound(self) -> list[BoundListener]:
        """The listeners as served now (one being drained after a port change is not listed)."""
        return [
            *(BoundListener(listener=u.name, proto="udp", address=u.address) for u in self.udp if not u.draining),
            *(BoundListener(listener=s.name, proto="tcp", address=s.address) for s in self.streams if not s.draining),
        ]

    def udp_listener(self, sock: socket.socket, drops_seen: int | None) -> UdpListener:
        return UdpListener("udp", sock, self.settings, self.stats, self.out, self.stop.set, drops_seen)

    def stream_listener(self, name: str, tls: ssl.SSLContext | None) -> StreamListener:
        settings = self.settings
        address = settings.tls if name == "tls" else settings.tcp
        return StreamListener(
            name, address, settings, self.pipeline, self.out, self.stats, self.allow, tls, self.throttle
        )

    async def start(self) -> None:
        settings = self.settings
        if settings.udp:
            sock, drops_seen = own_socket("udp", "udp", settings.udp, settings)
            self.udp.append(self.udp_listener(sock, drops_seen))
        tls: ssl.SSLContext | None = None
        if settings.tls:
            with bind_errors("tls", settings.tls):
                tls = tls_context(settings)
        for name, address in (("tcp", settings.tcp), ("tls", settings.tls)):
            if address:
                stream = self.stream_listener(name, tls if name == "tls" else None)
                sock, _ = own_socket(name, "tcp", address, settings)
                with bind_errors(name, address):
                    await stream.start(sock)
                self.streams.append(stream)
        for listener in self.udp:
            listener.workers.start()
        self.out.ready(self.bound())

    # ---- port changes ------------------------------------------------------------------

    def listen_for_changes(self, control: socket.socket) -> None:
        control.setblocking(False)
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_control, control)

    def _on_control(self, control: socket.socket) -> None:
        try:
            received = receive_rebind(control)
        except BlockingIOError:
            return
        except (OSError, ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.error("syslog: unreadable port change request: %s", exc)
            return
        if received is None:  # the engine is gone; its stop reaches us as SIGTERM
            asyncio.get_running_loop().remove_reader(control.fileno())
            return
        request, sock = received
        task = asyncio.ensure_future(self._change(control, request, sock))
        self.changes.add(task)
        task.add_done_callback(self.changes.discard)

    async def _change(self, control: socket.socket, request: Rebind, sock: socket.socket) -> None:
        """Serve `sock` for the listener, answer, then drain and close the socket it replaces."""
        name = request.listener
        try:
            if name == "udp":
                old_udp = next(u for u in self.udp if not u.draining)
                new_udp = self.udp_listener(sock, None)
                new_udp.workers.start()
                self.udp.append(new_udp)
                old_udp.draining = True
                address = new_udp.address
            elif name in ("tcp", "tls"):
                old_stream = next(s for s in self.streams if s.name == name and not s.draining)
                new_stream = self.stream_listener(name, old_stream.tls)
                await new_stream.start(sock)
                self.streams.append(new_stream)
                old_stream.draining = True
                address = new_stream.address
            else:
                raise LookupError(f"syslog has no listener {name!r}")
        except (StopIteration, LookupError, OSError) as exc:
            sock.close()
            reason = "it is not running" if isinstance(exc, StopIteration) else str(exc)
            _answer(control, Rebound(listener=name, ok=False, error=f"syslog.{name}: cannot change: {reason}"))
            return
        self.out.ready(self.bound())
        _answer(control, Rebound(listener=name, ok=True, address=address))
        log.info("syslog.%s: now listening on %s; the old socket is served %.1f s more", name, address, request.drain_s)
        await asyncio.sleep(request.drain_s)
        if name == "udp":
            # The workers read what the kernel still holds before they exit; then it closes.
            await old_udp.workers.stop(WORKER_STOP_S)
            old_udp.flush()
            old_udp.report_kernel_drops(time.time())
            self.udp.remove(old_udp)
            old_udp.sock.close()
        else:
            old_stream.stop_accepting()  # its connections stay until they end or the collector stops

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

    async def finish(self) -> None:
        for task in list(self.changes):
            task.cancel()
        # What TCP senders sent before the stop, the kernel acknowledged: read it and keep it.
        for stream in self.streams:
            await stream.stop(DRAIN_S)
        # The workers send what they received, and what the kernel still held, before exiting.
        for listener in self.udp:
            await listener.workers.stop(WORKER_STOP_S)
            listener.flush()
        self.report(time.time())


def _answer(control: socket.socket, answer: Rebound) -> None:
    with contextlib.suppress(OSError):  # the engine went away; it will not wait for the answer
        control.send(msgspec.json.encode(answer))


async def serve(settings: SyslogSettings, out: Output) -> None:
    collector = Collector(settings, out)
    await collector.start()
    given = inherited()
    if given.control >= 0:
        collector.listen_for_changes(socket.socket(fileno=given.control))
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
