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
from collectors.common.udp import kernel_drops, set_receive_buffer
from collectors.common.workers import WorkerPool, default_worker_count
from collectors.syslog.framing import SyslogFramer
from collectors.syslog.pipeline import Allowlist, Pipeline, Stats
from collectors.syslog.settings import SyslogSettings

log = configure_logging("syslog")

REPORT_INTERVAL_S = 1.0
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

    def report_kernel_drops(self, now: float) -> None:
        drops = kernel_drops(self.sock)
        if drops is None or drops <= self._drops_seen:
            return
        delta, self._drops_seen = drops - self._drops_seen, drops
        self._stats.listener(self.name)["kernel_drops"] += delta
        self._stats.rejected(self.name, None, delta, 0, "kernel_drop", now)


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: bytes in, framed messages through the pipeline."""

    def __init__(self, server: StreamListener) -> None:
        self._server = server
        self._framer = SyslogFramer(server.max_message_bytes)
        self._source = "unknown"
        self._transport: asyncio.Transport | None = None
        self._errors_reported = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._source = (
            f"{peer[0]}:{peer[1]}" if peer and ":" not in peer[0] else f"[{peer[0]}]:{peer[1]}" if peer else "unknown"
        )
        server = self._server
        stats = server.stats.listener(server.name)
        now = time.time()
        if not server.allow.allows(self._source):
            server.stats.rejected(server.name, self._source, 1, 0, "sender_not_allowed", now)
            transport.abort()
            return
        if server.active >= server.max_connections:
            server.stats.rejected(server.name, self._source, 1, 0, "connection_limit", now)
            log.warning("refused %s on %s: %d connections already", self._source, server.address, server.active)
            transport.abort()
            return
        server.active += 1
        stats["connections"] += 1
        self._counted = True

    def data_received(self, data: bytes) -> None:
        self._deliver(self._framer.feed(data))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self._server.active -= 1
            self._deliver(self._framer.flush())

    def _deliver(self, messages: list[bytes]) -> None:
        self._report_framing()
        if messages:
            server = self._server
            senders = [self._source] * len(messages)
            server.out.ndjson(server.pipeline.handle(server.name, messages, senders, time.time()))

    def _report_framing(self) -> None:
        errors = self._framer.errors
        if errors > self._errors_reported:
            server = self._server
            server.stats.listener(server.name)["framing_errors"] += errors - self._errors_reported
            server.stats.rejected(
                server.name, self._source, errors - self._errors_reported, 0, "framing_error", time.time()
            )
            self._errors_reported = errors


class StreamListener:
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
    ) -> None:
        self.name = name
        self.address = address
        self.pipeline = pipeline
        self.out = out
        self.stats = stats
        self.allow = allow
        self.tls = tls
        self.max_message_bytes = settings.max_message_bytes
        self.max_connections = settings.max_connections
        self.active = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = split_host_port(self.address)
        self.server = await asyncio.get_running_loop().create_server(
            lambda: StreamProtocol(self), host, port, ssl=self.tls, reuse_address=True, backlog=512
        )
        bound = self.server.sockets[0].getsockname()
        self.address = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"


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


async def serve(settings: SyslogSettings, out: Output) -> None:
    stats = Stats()
    allow = Allowlist(settings.allow)
    pipeline = Pipeline(stats, allow)
    stop = asyncio.Event()
    udp: list[UdpListener] = []
    streams: list[StreamListener] = []
    if settings.udp:
        with bind_errors("udp", settings.udp):
            udp.append(UdpListener("udp", settings.udp, settings, stats, out, stop.set))
    if settings.tcp:
        streams.append(StreamListener("tcp", settings.tcp, settings, pipeline, out, stats, allow, None))
    if settings.tls:
        with bind_errors("tls", settings.tls):
            context = tls_context(settings)
        streams.append(StreamListener("tls", settings.tls, settings, pipeline, out, stats, allow, context))
    for stream in streams:
        with bind_errors(stream.name, stream.address):
            await stream.start()
    for listener in udp:
        listener.workers.start()
    out.ready(
        [
            *(BoundListener(listener=u.name, proto="udp", address=u.address) for u in udp),
            *(BoundListener(listener=s.name, proto="tcp", address=s.address) for s in streams),
        ]
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()

    def report(now: float) -> None:
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
            if stream.server is not None:
                stream.server.close()
        # The workers send what they received, and what the kernel still held, before exiting.
        for listener in udp:
            await listener.workers.stop(WORKER_STOP_S)
            listener.flush()
        report(time.time())
    for listener in udp:
        if listener.workers.failure:
            raise WorkerFailed(f"syslog.{listener.name}: {listener.workers.failure}; restarting the collector")


class WorkerFailed(Exception):
    """A UDP worker process died; the collector exits so the engine restarts all of it."""


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
