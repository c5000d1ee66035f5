"""A stream worker process: reads, frames and parses the TCP and TLS connections the collector's
main process accepted and handed to it (`collectors.syslog.handoff`), so that several
connections use every core. One worker reads each connection, whole: what a sender sent is
stored in its order.

Started by `collectors.syslog.stream_pool` as `python -m collectors.syslog.stream_worker` with
its end of the hand-off socket pair inherited and a `StreamWorkerSetup` as JSON on stdin;
records, counter deltas, drops go to stdout as channel frames. SIGTERM: read what the kernel
still holds for every connection (a sender's last batch, acknowledged by TCP), close them all
keeping their trailing messages, send the counters, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import time
from typing import Any

import msgspec

from collectors.common.harness import Output, configure_logging, die_with_parent, read_settings, tune_gc, tune_malloc
from collectors.common.inflight import SlotWriter, open_slot
from collectors.common.logthrottle import LogThrottle
from collectors.common.tcpinfo import bytes_received
from collectors.syslog import handoff
from collectors.syslog.framing import SyslogFramer
from collectors.syslog.pipeline import Allowlist, Pipeline, Stats
from collectors.syslog.settings import SyslogSettings

log = configure_logging("syslog.stream")

REPORT_INTERVAL_S = 0.25  # counters, and which connections were active (the idle clock)
DRAIN_S = 0.5  # at stop, how long connections may keep delivering what the kernel holds
DRAIN_QUIET_S = 0.05
FLUSH_BYTES = 256 * 1024
FLUSH_S = 0.02
EVENTS_PER_MESSAGE = 2000  # connection ids per message to the main process (well under 64 KiB)


class StreamWorkerSetup(msgspec.Struct, frozen=True, kw_only=True):
    control: int  # this worker's end of the SOCK_SEQPACKET pair
    settings: SyslogSettings
    inflight: int = -1  # the collector's counter block (`collectors.common.inflight`), -1 for none
    inflight_slot: int = -1  # this worker's slot in it


def tls_context(settings: SyslogSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        context.load_verify_locations(settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Connection(asyncio.Protocol):
    """One TCP or TLS connection: bytes in, framed messages through the pipeline. A TLS
    connection arrives as TCP (it counted against the limits from its accept), then is upgraded
    here with a bounded handshake."""

    def __init__(self, worker: StreamWorker, conn: int, listener: str, source: str, ip: str) -> None:
        self._worker = worker
        self.conn = conn
        self.listener = listener
        self.source = source
        self.ip = ip
        self._framer = SyslogFramer(worker.settings.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.open = True
        self.bytes_in = 0
        self._bytes_delivered = 0  # of bytes_in: what the messages delivered so far came in, framing included
        self._errors_reported = 0
        self._dropped_reported = 0
        self._discarded_reported = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.transport is not None:  # start_tls calls it again with the TLS transport
            return
        self.transport = transport
        if self.listener == "tls":
            transport.pause_reading()  # the TLS layer reads from here on, once it is in place
            self._worker.handshakes.add(asyncio.ensure_future(self._handshake(transport)))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        worker = self._worker
        # A second descriptor for the handshake only: when it fails, asyncio closes the socket
        # before telling us, and what the client sent is read from the kernel afterwards.
        probe = _dup_socket(raw)
        try:
            tls = await asyncio.get_running_loop().start_tls(
                raw,
                self,
                worker.tls(),
                server_side=True,
                ssl_handshake_timeout=worker.settings.tls_handshake_timeout_s,
            )
        except Exception as exc:  # a failed or timed-out handshake, or the connection went away
            raw.abort()
            if self.open:  # not closed by the main process meanwhile: the client's handshake failed
                worker.handshake_failed(self, exc, bytes_received(probe))
                self.close_out()
            return
        finally:
            if probe is not None:
                probe.close()
            worker.handshakes.discard(asyncio.current_task())
        if tls is None or not self.open:
            raw.abort()
            return
        self.transport = tls

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        messages = self._framer.feed(data)
        if messages:
            self._worker.active.add(self.conn)
        self._deliver(messages)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_out()

    def close_out(self) -> None:
        """Deliver what the connection still holds (a trailing message without terminator) and
        give up its place. Idempotent: a close from the main process, the stop and
        connection_lost all end here."""
        if self.open:
            self.open = False
            self._worker.ended(self)
            self._deliver(self._framer.flush())

    def abort(self) -> None:
        """Close from our side (evicted, idle, stop): what was received is kept."""
        self.close_out()
        if self.transport is not None:
            self.transport.abort()

    def _deliver(self, messages: list[bytes]) -> None:
        self._report_framing()
        if messages:
            # What these messages took on the wire, framing included (octet counts, newlines):
            # the bytes read, less those still waiting for the rest of their frame and those
            # the framer threw away (counted as drops). TLS: the bytes decrypted.
            framer = self._framer
            done = self.bytes_in - framer.buffered_bytes - framer.discarded_bytes
            received, self._bytes_delivered = max(0, done - self._bytes_delivered), max(done, self._bytes_delivered)
            self._worker.deliver(self.listener, self.source, messages, received)

    def _report_framing(self) -> None:
        framer = self._framer
        if framer.errors == self._errors_reported and framer.discarded_bytes == self._discarded_reported:
            return
        stats = self._worker.stats
        stats.listener(self.listener)["framing_errors"] += framer.errors - self._errors_reported
        # Records: frames lost whole; bytes: every byte dropped (a truncated line loses bytes only).
        stats.rejected(
            self.listener,
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


class StreamWorker:
    def __init__(
        self, control: socket.socket, settings: SyslogSettings, out: Output, inflight: SlotWriter | None = None
    ) -> None:
        self.settings = settings
        self._inflight = inflight
        self.stats = Stats()
        self._pipeline = Pipeline(self.stats, Allowlist([]))  # the main process applied the allowlist
        self._control = control
        self._out = out
        self._throttle = LogThrottle()
        self._tls: ssl.SSLContext | None = None
        self.connections: dict[int, Connection] = {}
        self.handshakes: set[asyncio.Future[Any]] = set()  # handshakes and hand-overs in progress
        self.active: set[int] = set()
        self._ended: list[int] = []
        self._pending = bytearray()
        self._received = 0  # the bytes the records in `_pending` took on the wire
        self._pending_records = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self.stop = asyncio.Event()

    def tls(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self.settings)
        return self._tls

    # ---- from the main process

    def on_control(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._control, handoff.MAX_MESSAGE, 1)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:  # the main process is gone
                for fd in fds:
                    os.close(fd)
                self.stop.set()
                asyncio.get_running_loop().remove_reader(self._control.fileno())
                return
            message = handoff.to_worker.decode(data)
            if isinstance(message, handoff.Open):
                if fds:
                    self._open(message, fds[0])
                for fd in fds[1:]:
                    os.close(fd)
            else:
                for fd in fds:
                    os.close(fd)
                for conn in message.conns:
                    connection = self.connections.get(conn)
                    if connection is not None:
                        connection.abort()

    def _open(self, message: handoff.Open, fd: int) -> None:
        sock = socket.socket(fileno=fd)
        connection = Connection(self, message.conn, message.listener, message.source, message.ip)
        self.connections[message.conn] = connection
        task = asyncio.ensure_future(asyncio.get_running_loop().connect_accepted_socket(lambda: connection, sock))
        self.handshakes.add(task)
        task.add_done_callback(self._accepted)

    def _accepted(self, task: asyncio.Future[Any]) -> None:
        self.handshakes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("syslog stream worker: cannot take a connection: %s", task.exception())

    # ---- to the main process

    def ended(self, connection: Connection) -> None:
        self.connections.pop(connection.conn, None)
        self.active.discard(connection.conn)
        self._ended.append(connection.conn)
        self._tell()  # at once: the place it held is free for a newcomer

    def _tell(self) -> None:
        """Send the main process what happened to connections since last time, in pieces it
        can take; what the socket pair has no room for now is sent next time, never lost (a
        lost `ended` would hold a place in the listener's table for good)."""
        while self._ended or self.active:
            ended, self._ended = self._ended[:EVENTS_PER_MESSAGE], self._ended[EVENTS_PER_MESSAGE:]
            active = sorted(self.active)[:EVENTS_PER_MESSAGE]
            try:
                self._control.send(handoff.encode(handoff.Events(active=active, ended=ended)))
            except BlockingIOError:
                self._ended[:0] = ended
                return
            except OSError:  # the main process is gone; the stop follows
                self._ended.clear()
                self.active.clear()
                return
            self.active.difference_update(active)

    def deliver(self, listener: str, source: str, messages: list[bytes], received: int) -> None:
        self._pending += self._pipeline.handle(listener, messages, [source] * len(messages), time.time())
        self._received += received
        self._pending_records += self._pipeline.accepted
        if self._inflight is not None:  # counted at once: a crash before the flush loses them, counted
            self._inflight.add(self._pipeline.accepted, received)
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()
        elif self._flush_timer is None and self._pending:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._out.ndjson(self._pending, self._received)
        if self._inflight is not None and self._pending_records and not self._out.broken:
            self._inflight.handed(self._pending_records, self._received)
        self._pending.clear()
        self._received = 0
        self._pending_records = 0

    def handshake_failed(self, connection: Connection, exc: Exception, sent: int) -> None:
        self.stats.listener(connection.listener)["handshake_failures"] += 1
        self.stats.rejected(connection.listener, connection.ip, 1, sent, "tls_handshake_failed", time.time())
        reason = getattr(exc, "reason", None) or type(exc).__name__
        held = self._throttle.allow(f"handshake {reason}", time.monotonic())
        if held is not None:
            more = f" ({held} more like it not logged)" if held else ""
            log.warning(
                "syslog.%s: TLS handshake with %s failed: %s%s", connection.listener, connection.ip, reason, more
            )

    def report(self) -> None:
        self._tell()
        self.flush()
        delta = self.stats.take()
        if delta.listeners or delta.sources:
            self._out.counters(delta)
        self._out.drops(self.stats.take_drops())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._control.fileno(), self.on_control)
        try:
            while not self.stop.is_set() and not self._out.broken:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), REPORT_INTERVAL_S)
                self.report()
        finally:
            self.on_control()  # connections handed over just before the stop are read too
            await self._drain()
            self.report()

    async def _drain(self) -> None:
        deadline = time.monotonic() + DRAIN_S
        while self.connections and time.monotonic() < deadline:
            before = sum(c.bytes_in for c in self.connections.values())
            await asyncio.sleep(DRAIN_QUIET_S)
            if sum(c.bytes_in for c in self.connections.values()) == before:
                break
        for connection in list(self.connections.values()):
            connection.abort()
        for task in list(self.handshakes):
            task.cancel()


async def serve(setup: StreamWorkerSetup, out: Output) -> None:
    control = socket.socket(fileno=setup.control)
    control.setblocking(False)
    worker = StreamWorker(control, setup.settings, out, open_slot(setup.inflight, setup.inflight_slot))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop.set)
    tune_gc()
    await worker.run()


def main() -> None:
    die_with_parent()
    tune_malloc()
    setup = read_settings(StreamWorkerSetup)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C reaches the main process, which stops us
    asyncio.run(serve(setup, Output()))


if __name__ == "__main__":
    main()
