"""A collector as a supervised child process: config in, records and counters out, into the buffer.

Every collector (syslog, flow, snmptrap, winevents) runs as `python -m
collectors.<name>.service` so its per-message work has a core of its own and a crash cannot take
the engine with it. This component starts it, pumps its channel frames into the buffer and the
event bus, and stops it cleanly (SIGTERM, then everything still in the pipe is stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import msgspec

from collectors.common.channel import RECEIVED_BYTES, FrameDecoder, FrameKind, encode_frame
from collectors.common.durable import TOKEN
from collectors.common.frames import BoundListener, Counters, FrameError, ListenerCounters, PayloadDecoder
from collectors.common.inflight import InflightBlock
from collectors.common.inherited import ENV as INHERITED_ENV
from collectors.common.inherited import Inherited, InheritedSocket, Rebind, Rebound, send_rebind
from nocraven.engine.component import Component, EngineContext
from nocraven.ingest.crashloss import WORKERS_GONE_S, crash_loss, exit_description, process_alive
from nocraven.ports.sockets import BindFailed, bind, close_quietly
from nocraven.schema.collector import CollectorStatus, CollectorSummary, ListenerStatus
from nocraven.schema.engine import Listener
from nocraven.schema.events import CountersUpdated, RecordsSampled

SAMPLE_INTERVAL_S = 0.2  # live views get at most this many samples per second per collector ...
SAMPLE_RECORDS = 25  # ... of at most this many records each
TOP_SOURCES = 100  # sources shown in /v1/status; the full list is on the collector's own path
STOP_GRACE_S = 5.0
BACKLOG_POLL_S = 0.005  # how often a collector paused for the buffer's backlog looks again
REBIND_ANSWER_S = 10.0  # the collector starts its receive workers on the new socket meanwhile
REBIND_DRAIN_S = 2.0  # the old socket is still served this long after a port change, for senders to switch


class CollectorExited(Exception):
    pass


class RebindRefused(Exception):
    """A live port change that cannot be made now; one line saying why and what to do."""


@dataclass(frozen=True)
class SocketSpec:
    """A socket the engine binds for its collector: what the config asks for."""

    proto: str  # "udp" or "tcp" (TLS listens on TCP)
    address: str
    receive_buffer: int = 0


@dataclass
class HeldSocket:
    spec: SocketSpec
    sock: socket.socket
    drops_seen: int = 0  # kernel drops (UDP) the collector has reported on this socket
    drops_base: int = 0  # drops_seen when the running collector started on it


def spread_lines(chunk: bytes, count: int) -> list[bytes]:
    """Up to `count` non-empty lines spread evenly over newline-joined records: the line at
    each of `count` equally spaced offsets. A chunk can be megabytes of records; splitting it
    all for a sample of 25 cost more than storing it."""
    picked: list[bytes] = []
    size, after = len(chunk), -1  # `after`: where the last line picked ended
    for index in range(count):
        start = max(chunk.rfind(b"\n", 0, index * size // count) + 1, after + 1)
        while start < size:
            end = chunk.find(b"\n", start)
            end = size if end < 0 else end
            if end > start:
                picked.append(chunk[start:end])
                after = end
                break
            start = end + 1  # an empty line: the next one
        if start >= size:
            break
    return picked


class Backlog(Protocol):
    """The buffer's sealing backlog as a reader of collector pipes sees it (BufferAccess)."""

    def backlog_full(self) -> bool: ...

    def backlog_eased(self) -> bool: ...


class ChannelReader(asyncio.Protocol):
    """A collector's stdout: every pipe read goes straight to `on_data` (frames into the
    buffer). A StreamReader between copied every byte twice more, and paused and resumed the
    pipe on every read. Handling a read before taking the next keeps the backpressure: a
    collector that writes faster than the engine stores blocks on its full pipe. So does one
    that writes faster than the buffer seals: with `backlog`, reading pauses while it is full
    and resumes once it eased (checked every BACKLOG_POLL_S), so the records waiting in the
    engine's memory stay bounded. `done` ends at end of file, or with the exception a frame
    raised (then nothing more is read)."""

    def __init__(self, on_data: Callable[[bytes], None], backlog: Backlog | None = None) -> None:
        self._on_data = on_data
        self._backlog = backlog
        self._transport: asyncio.ReadTransport | None = None
        self._recheck: asyncio.TimerHandle | None = None
        self.pauses = 0  # times reading paused for the backlog
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    @property
    def paused(self) -> bool:
        return self._recheck is not None

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        try:
            self._on_data(data)
        except Exception as exc:
            self.done.set_exception(exc)
            if self._transport is not None:
                self._transport.close()
            return
        if self._backlog is not None and self._recheck is None and self._backlog.backlog_full():
            assert self._transport is not None
            self._transport.pause_reading()
            self.pauses += 1
            self._recheck = asyncio.get_running_loop().call_later(BACKLOG_POLL_S, self._resume_when_eased)

    def _resume_when_eased(self) -> None:
        assert self._backlog is not None and self._transport is not None
        if self.done.done() or self._backlog.backlog_eased():
            self._recheck = None
            if not self._transport.is_closing():
                self._transport.resume_reading()
            return
        self._recheck = asyncio.get_running_loop().call_later(BACKLOG_POLL_S, self._resume_when_eased)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if not self.done.done():
            self.done.set_result(None)


class RecordSink:
    """Where a collector's records go: the buffer, or nowhere with accounting if it is down."""

    def __init__(self, ctx: EngineContext, service: str) -> None:
        self._ctx = ctx
        self._service = service
        self.lost_records = 0  # records that arrived while no buffer was running

    def append(self, chunk: bytes, now: float, received_bytes: int = 0) -> int:
        """Store newline-joined records (`received_bytes`: what they were on the wire);
        returns how many were stored."""
        count = self._ctx.buffer.append_ndjson(self._service, chunk, now, received_bytes)
        if count is None:
            self.lost_records += chunk.count(b"\n") + 1
            return 0
        return count

    def drop(self, reason: str, records: int, size: int, now: float, source: str | None) -> None:
        self._ctx.buffer.record_drop(self._service, reason, records, size, now, source)


class CollectorProcess(Component):
    module: ClassVar[str]  # e.g. "collectors.syslog.service"
    service: ClassVar[str]  # the buffer service its records belong to
    counters_type: ClassVar[type[Counters]] = Counters  # its COUNTERS payload (a subclass for more)

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.log = logging.getLogger(f"nocraven.{self.name}")
        self.sink = RecordSink(ctx, self.service)
        self.bound: list[BoundListener] = []
        self.counters = Counters()
        self.records_stored = 0
        self.last_message: str | None = None
        self._rate_mps = 0.0
        self._rate_mark: tuple[float, int] | None = None
        self._next_sample = 0.0
        self._since_sample = 0
        self._payloads = PayloadDecoder(self.counters_type)
        self._stdin: asyncio.StreamWriter | None = None
        self._confirmations: set[asyncio.Task[None]] = set()
        self._held: dict[str, HeldSocket] = {}  # listener -> the socket the engine holds for it
        self._control: socket.socket | None = None  # the engine's end of the running collector's channel
        self._rebinding = asyncio.Lock()
        self._received = 0  # from the last RECEIVED frame: the wire bytes of the next records frame
        # Records (and their wire bytes) the running collector handed over: what its counter
        # block says it accepted, less these, is what a crash took with it.
        self._handed = [0, 0]
        # Messages and bytes the collector's earlier runs accepted (each run counts from zero),
        # and what their crashes lost: received = stored + lost without buffer + lost in crashes.
        self._accepted_before = [0, 0]
        self.lost_in_crashes = 0

    def socket_specs(self) -> dict[str, SocketSpec]:
        """The listeners whose sockets the engine binds and hands to the collector (so a crash
        keeps the socket and its queue, and a port change is live), by listener name. Empty
        for a collector that binds its own."""
        return {}

    def rebindable(self) -> set[str]:
        """Listeners whose address can change live (`rebind`)."""
        return set(self.socket_specs())

    def _hold_sockets(self) -> None:
        """Bind what the config asks for; keep what is bound already to the same address."""
        specs = self.socket_specs()
        for name in list(self._held):
            if name not in specs or self._held[name].spec != specs[name]:
                close_quietly(self._held.pop(name).sock)
        for name, spec in specs.items():
            if name not in self._held:
                sock = bind(f"{self.name}.{name}", spec.proto, spec.address, spec.receive_buffer)
                self._held[name] = HeldSocket(spec, sock)

    def _release_sockets(self) -> None:
        for held in self._held.values():
            close_quietly(held.sock)
        self._held.clear()

    def child_settings(self) -> object:
        """The settings object the collector process decodes from its stdin (its
        `collectors/<name>/settings.py` dataclass, as the config holds it)."""
        raise NotImplementedError

    def enabled(self) -> bool:
        """Whether any listener of this collector is configured; with none, no process runs."""
        return True

    async def run(self, ready: Callable[[], None]) -> None:
        if not self.enabled():  # turned off in the config: ready at once, no process, no port
            self._release_sockets()
            ready()
            await asyncio.Event().wait()
        try:
            self._hold_sockets()
        except BindFailed as exc:
            self.last_message = str(exc)
            raise CollectorExited(str(exc)) from None
        engine_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        inflight = InflightBlock.create()
        self._handed = [0, 0]
        inherited = Inherited(
            listeners={
                name: InheritedSocket(fd=held.sock.fileno(), drops_seen=held.drops_seen)
                for name, held in self._held.items()
            },
            control=child_end.fileno(),
            inflight=inflight.fd,
        )
        for held in self._held.values():
            held.drops_base = held.drops_seen
        # The channel is a pipe of our own, read by a protocol (ChannelReader), not a StreamReader.
        channel_read, channel_write = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                stdin=asyncio.subprocess.PIPE,
                stdout=channel_write,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(
                    *(held.sock.fileno() for held in self._held.values()),
                    child_end.fileno(),
                    inflight.fd,
                ),
                env={**os.environ, INHERITED_ENV: msgspec.json.encode(inherited).decode()},
            )
        except BaseException:
            engine_end.close()
            inflight.close()
            os.close(channel_read)
            raise
        finally:
            child_end.close()
            os.close(channel_write)
        engine_end.setblocking(False)
        self._control = engine_end
        assert proc.stdin is not None and proc.stderr is not None
        # The settings first; stdin stays open for DURABLE confirmations (collectors.common.durable).
        proc.stdin.write(encode_frame(FrameKind.SETTINGS, msgspec.json.encode(self.child_settings())))
        await proc.stdin.drain()
        self._stdin = proc.stdin
        stderr_task = asyncio.create_task(self._pump_stderr(proc.stderr))
        decoder = FrameDecoder()
        self._received = 0

        def on_data(data: bytes) -> None:
            now = time.time()
            for kind, payload in decoder.feed(data):
                self._on_frame(kind, payload, ready, now)

        # The transport owns the pipe's file from here and closes it.
        pipe = open(channel_read, "rb", buffering=0)  # noqa: SIM115
        transport, reader = await asyncio.get_running_loop().connect_read_pipe(
            lambda: ChannelReader(on_data, self.ctx.buffer), pipe
        )
        try:
            # Shielded: a cancelled run (the engine stops) still reads the pipe to its end below.
            await asyncio.shield(reader.done)
            code = await proc.wait()
            raise CollectorExited(
                f"{self.name} collector exited with code {code}: {self.last_message or 'see the engine log'}"
            )
        finally:
            self.bound = []
            self._control = None
            engine_end.close()
            if self.ctx.supervisor is None or self.ctx.supervisor.stopping:
                self._release_sockets()  # the engine stops: the ports go with it
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                # What the collector had received is still in the pipe: store it before going.
                try:
                    if not reader.done.done():
                        await asyncio.wait_for(asyncio.shield(reader.done), STOP_GRACE_S)
                except TimeoutError:
                    self.log.warning("%s collector did not stop in %.0f s; killing it", self.name, STOP_GRACE_S)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                await proc.wait()
            transport.close()
            # Confirmations went on while the collector stopped (the buffer stops after it), so
            # a sender answered during the stop was answered the truth; nothing is left to say.
            self._stdin = None
            for task in list(self._confirmations):
                task.cancel()
            stderr_task.cancel()
            try:
                await self._account_inflight(inflight, proc.pid, proc.returncode)
            finally:
                inflight.close()

    async def _account_inflight(self, inflight: InflightBlock, pid: int, code: int | None) -> None:
        """Ledger what the collector's processes accepted but never handed over (a kill -9 takes
        its in-memory batches with it), and the stream connections its death reset."""
        deadline = time.monotonic() + WORKERS_GONE_S
        # Its workers stop when it dies (their parent-death signal): wait until they did, so
        # what they counted last is in the block.
        while any(process_alive(p) for p in inflight.totals().pids if p != pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        totals = inflight.totals()
        reported = self.counters.listeners.values()
        reported_messages, reported_bytes = sum(c.messages for c in reported), sum(c.bytes for c in reported)
        self.counters = self.counters_type()  # the next run reports from zero
        self._rate_mark = None
        if totals.main_pid == 0:  # a collector that does not count in the block: what it reported
            self._accepted_before[0] += reported_messages
            self._accepted_before[1] += reported_bytes
            return
        # The block is exact where the last report is up to a second old.
        self._accepted_before[0] += max(totals.messages, reported_messages)
        self._accepted_before[1] += reported_bytes
        loss = crash_loss(totals, self._handed[0], self._handed[1], crashed=code != 0)
        how = exit_description(code)
        now = time.time()
        origin = f"{self.name} collector pid {pid}, {how}"
        self.lost_in_crashes += loss.messages
        if loss.messages:  # bytes alone differ by framing details, not by lost messages
            self.sink.drop("collector_crash", loss.messages, loss.bytes, now, origin)
            self.log.error(
                "%s: %d messages (%d bytes) lost in the crash of the %s collector (pid %d, %s)",
                self.service,
                loss.messages,
                loss.bytes,
                self.name,
                pid,
                how,
            )
        if loss.connections:
            self.sink.drop("connection_reset", loss.connections, 0, now, origin)
            self.log.error(
                "%s: %d TCP connections reset by the crash of the %s collector (pid %d, %s)",
                self.service,
                loss.connections,
                self.name,
                pid,
                how,
            )

    async def _pump_stderr(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log.info("%s", text)
            if text.startswith(("ERROR", "Traceback", "CRITICAL")):
                self.last_message = text

    def _on_frame(self, kind: FrameKind, payload: bytes, ready: Callable[[], None], now: float) -> None:
        try:
            self._handle_frame(kind, payload, ready, now)
        except FrameError as exc:
            raise CollectorExited(
                f"{self.name} collector sent a frame the engine cannot read ({exc}); "
                "the collector and the engine must come from the same installation"
            ) from None

    def _handle_frame(self, kind: FrameKind, payload: bytes, ready: Callable[[], None], now: float) -> None:
        if kind == FrameKind.RECORDS:
            # At 100k msgs/s splitting every chunk into lines costs the engine a third of its
            # time: the buffer takes the chunk whole, and only a sample is ever split.
            received, self._received = self._received, 0
            lost_before = self.sink.lost_records
            stored = self.sink.append(payload, now, received)
            self.records_stored += stored
            self._handed[0] += stored + self.sink.lost_records - lost_before
            self._handed[1] += received
            self._sample(payload, stored, now)
        elif kind == FrameKind.RECORDS_DURABLE:
            token, ndjson = payload[: TOKEN.size], payload[TOKEN.size :]
            received, self._received = self._received, 0
            # No records (an SNMP INFORM retransmitted: only its ack is due): the answer is
            # whether everything sent before is committed.
            lost_before = self.sink.lost_records
            stored = self.sink.append(ndjson, now, received) if ndjson else 0
            self.records_stored += stored
            self._handed[0] += stored + self.sink.lost_records - lost_before
            self._handed[1] += received
            self._sample(ndjson, stored, now)
            task = asyncio.get_running_loop().create_task(self._confirm(token, stored > 0 or not ndjson))
            self._confirmations.add(task)
            task.add_done_callback(self._confirmations.discard)
        elif kind == FrameKind.RECEIVED:
            if len(payload) != RECEIVED_BYTES.size:
                raise FrameError(f"RECEIVED frame of {len(payload)} bytes, not {RECEIVED_BYTES.size}")
            (self._received,) = RECEIVED_BYTES.unpack(payload)
        elif kind == FrameKind.COUNTERS:
            self.counters = self._payloads.counters(payload)
            for name, held in self._held.items():
                reported = self.counters.listeners.get(name)
                if reported is not None:
                    held.drops_seen = max(held.drops_seen, held.drops_base + reported.kernel_drops)
            self._update_rate(now)
            self.ctx.bus.publish(CountersUpdated.of(self.name, self.summary()))
        elif kind == FrameKind.DROPS:
            for drop in self._payloads.drops(payload):
                self.sink.drop(drop.reason, drop.records, drop.bytes, drop.last, drop.source)
        elif kind == FrameKind.READY:
            self.bound = self._payloads.ready(payload).listeners
            for listener in self.bound:
                self.log.info("%s listening on %s/%s", self.name, listener.address, listener.proto)
            ready()
        elif kind == FrameKind.DETAIL:
            self.on_detail(payload, now)
        elif kind == FrameKind.LOG:
            entry = self._payloads.log(payload)
            self.last_message = entry.message
            self.log.log(logging.getLevelName(entry.level.upper()), "%s", entry.message)

    async def rebind(self, listener: str, address: str) -> str:
        """Move `listener` to `address` live: bind the new socket here (BindFailed says why
        not), hand it to the running collector, which serves it before it answers; the old
        socket is served for REBIND_DRAIN_S more, read until empty and closed. Returns the
        address as bound. Nothing changes when anything fails."""
        specs = self.socket_specs()
        if listener not in specs:
            raise RebindRefused(f"{self.name}.{listener} cannot be moved live")
        async with self._rebinding:
            control = self._control
            if control is None or not self.bound:
                raise RebindRefused(
                    f"the {self.name} collector is not running (see `nocraven status`); "
                    "change the port once it runs again"
                )
            spec = specs[listener]
            new_spec = SocketSpec(spec.proto, address, spec.receive_buffer)
            sock = bind(f"{self.name}.{listener}", spec.proto, address, spec.receive_buffer)
            try:
                send_rebind(control, Rebind(listener=listener, drain_s=REBIND_DRAIN_S), sock)
                loop = asyncio.get_running_loop()
                data = await asyncio.wait_for(loop.sock_recv(control, 65536), REBIND_ANSWER_S)
                if not data:
                    raise RebindRefused(f"the {self.name} collector stopped during the change; nothing was changed")
                answer = msgspec.json.decode(data, type=Rebound)
                if not answer.ok:
                    raise RebindRefused(answer.error or f"the {self.name} collector refused the new socket")
            except TimeoutError:
                close_quietly(sock)
                raise RebindRefused(
                    f"the {self.name} collector did not take the new socket in {REBIND_ANSWER_S:.0f} s; "
                    "nothing was changed"
                ) from None
            except BaseException:
                close_quietly(sock)
                raise
            old = self._held.get(listener)
            # The collector holds its own copy of the old socket while it drains it.
            self._held[listener] = HeldSocket(new_spec, sock)
            if old is not None:
                close_quietly(old.sock)
            counted = self.counters.listeners.get(listener)
            self._held[listener].drops_base = -(counted.kernel_drops if counted else 0)
            return answer.address

    async def _confirm(self, token: bytes, stored: bool) -> None:
        """Tell the collector its records are on disk (or were not stored), in the order asked."""
        durable = stored and await self.ctx.buffer.durable()
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write(encode_frame(FrameKind.DURABLE, token + (b"\x01" if durable else b"\x00")))
        with contextlib.suppress(ConnectionError):
            await stdin.drain()

    def on_detail(self, payload: bytes, now: float) -> None:
        """A DETAIL frame: what only this collector reports, in its own Struct (raise
        FrameError for one that does not decode). Collectors without one never send it."""
        raise FrameError(f"DETAIL frame: the {self.name} collector has none")

    def _sample(self, chunk: bytes, count: int, now: float) -> None:
        self._since_sample += count
        if now < self._next_sample or not chunk:
            return
        self._next_sample = now + SAMPLE_INTERVAL_S
        records = [msgspec.Raw(line) for line in spread_lines(chunk, SAMPLE_RECORDS)]
        self.ctx.bus.publish(RecordsSampled(service=self.service, records=records, total=self._since_sample))
        self._since_sample = 0

    def _update_rate(self, now: float) -> None:
        total = sum(counters.messages for counters in self.counters.listeners.values())
        if self._rate_mark is not None:
            then, before = self._rate_mark
            if now > then:
                self._rate_mps = max(0.0, (total - before) / (now - then))
        self._rate_mark = (now, total)

    def summary(self) -> CollectorSummary:
        """The counters the console and the CLI show; the same for every collector."""
        listeners = self.counters.listeners.values()
        return CollectorSummary(
            messages=self._accepted_before[0] + sum(c.messages for c in listeners),
            bytes=self._accepted_before[1] + sum(c.bytes for c in listeners),
            rejected=sum(c.rejected for c in listeners),
            kernel_drops=sum(c.kernel_drops for c in listeners),
            framing_errors=sum(c.framing_errors for c in listeners),
            rate_mps=round(self._rate_mps, 1),
            sources=len(self.counters.sources),
            records_stored=self.records_stored,
            lost_without_buffer=self.sink.lost_records,
            lost_in_crashes=self.lost_in_crashes,
        )

    def detail(self) -> CollectorStatus:
        counters = self.counters
        top = sorted(counters.sources.items(), key=lambda item: item[1].messages, reverse=True)[:TOP_SOURCES]
        return CollectorStatus(
            listeners=[
                ListenerStatus(
                    listener=bound.listener,
                    proto=bound.proto,
                    address=bound.address,
                    counters=counters.listeners.get(bound.listener, ListenerCounters()),
                )
                for bound in self.bound
            ],
            totals=self.summary(),
            sources=dict(top),
        )

    def status(self) -> CollectorStatus:
        return self.detail()

    def listeners(self) -> list[Listener]:
        return [
            Listener(service=self.name, listener=bound.listener, proto=bound.proto, address=bound.address)
            for bound in self.bound
        ]
