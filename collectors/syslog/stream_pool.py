"""The stream worker processes of the syslog collector, seen from its main process.

`StreamPool` starts N `collectors.syslog.stream_worker` processes, hands each accepted
connection to the one holding the fewest (its descriptor over a SOCK_SEQPACKET pair, see
`collectors.syslog.handoff`), passes their records, drops and log lines on to the engine, adds
up their counters, and tells the listeners when a connection was active or ended. A worker
that dies takes its connections with it (their senders reconnect); it is replaced, and one
that keeps dying (`MAX_DEATHS` in `DEATH_WINDOW_S`) is a fault: `failure` says so and
`on_failure` is called, so the collector exits and the engine restarts it with its backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from collectors.common.channel import ChannelError, FrameDecoder, FrameKind
from collectors.common.frames import Drop, PayloadDecoder
from collectors.common.harness import Output, enlarge_pipe
from collectors.common.inflight import InflightBlock, SlotWriter
from collectors.syslog import handoff
from collectors.syslog.pipeline import Stats
from collectors.syslog.settings import SyslogSettings
from collectors.syslog.stream_worker import StreamWorkerSetup

log = logging.getLogger("collectors.syslog.streams")

READ_BYTES = 1 << 20
MAX_DEATHS = 5
DEATH_WINDOW_S = 60.0
MODULE = "collectors.syslog.stream_worker"


@dataclass(eq=False)
class StreamWorkerProcess:
    proc: subprocess.Popen[bytes]
    stdout: int
    control: socket.socket
    index: int
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    conns: set[int] = field(default_factory=set)
    # Hand-overs waiting for room in the socket pair (a burst of connections): the connection
    # stays open here until it is sent, then this copy is closed.
    waiting: deque[tuple[bytes, socket.socket | None]] = field(default_factory=deque)
    writer: bool = False  # waiting for the socket pair to take more
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class StreamPool:
    def __init__(
        self,
        settings: SyslogSettings,
        count: int,
        stats: Stats,
        out: Output,
        on_active: Callable[[int], None],
        on_ended: Callable[[int], None],
        on_failure: Callable[[], None],
        inflight: InflightBlock | None = None,
        main_slot: SlotWriter | None = None,
    ) -> None:
        self._settings = settings
        self._count = count
        self._stats = stats
        self._out = out
        self._on_active = on_active
        self._on_ended = on_ended
        self._on_failure = on_failure
        # The engine's counter block: each worker counts what it accepted in a slot of its own,
        # and this process's slot says how many connections a crash would reset.
        self._inflight = inflight
        self._inflight_slots: list[int] = []
        self._main_slot = main_slot
        self._payloads = PayloadDecoder()
        self._workers: list[StreamWorkerProcess] = []
        self._deaths: deque[float] = deque(maxlen=MAX_DEATHS)
        self._stopping = False
        self.restarts = 0
        self.failure: str | None = None

    def start(self) -> None:
        if self._inflight is not None:
            self._inflight_slots = self._inflight.claim(self._count)
        for index in range(self._count):
            self._workers.append(self._spawn(index))

    def _spawn(self, index: int) -> StreamWorkerProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        inflight_slot = self._inflight_slots[index] if index < len(self._inflight_slots) else -1
        inflight_fd = self._inflight.fd if self._inflight is not None and inflight_slot >= 0 else -1
        setup = msgspec.json.encode(
            StreamWorkerSetup(
                control=theirs.fileno(), settings=self._settings, inflight=inflight_fd, inflight_slot=inflight_slot
            )
        )
        pass_fds = (theirs.fileno(), inflight_fd) if inflight_fd >= 0 else (theirs.fileno(),)
        read_fd, write_fd = os.pipe()
        enlarge_pipe(read_fd)
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=write_fd, pass_fds=pass_fds
        )
        os.close(write_fd)
        theirs.close()
        assert proc.stdin is not None
        proc.stdin.write(setup)
        proc.stdin.close()
        os.set_blocking(read_fd, False)
        ours.setblocking(False)
        worker = StreamWorkerProcess(proc, read_fd, ours, index)
        loop = asyncio.get_running_loop()
        loop.add_reader(read_fd, self._read, worker)
        loop.add_reader(ours.fileno(), self._events, worker)
        return worker

    def hand_over(self, sock: socket.socket, conn: int, listener: str, source: str, ip: str) -> bool:
        """Give an accepted connection to the worker holding the fewest; False if there is no
        worker to take it (the caller closes it). The caller's `sock` may be closed on return:
        a connection that has to wait for room keeps a duplicate here."""
        live = [w for w in self._workers if w.stdout >= 0]
        if not live:
            return False
        worker = min(live, key=lambda w: len(w.conns))
        message = handoff.encode(handoff.Open(conn=conn, listener=listener, source=source, ip=ip))
        worker.conns.add(conn)
        self._publish_connections()
        worker.waiting.append((message, sock.dup()))
        self._send(worker)
        return True

    def _publish_connections(self) -> None:
        if self._main_slot is not None:
            self._main_slot.connections(sum(len(w.conns) for w in self._workers))

    def close(self, conns: list[int]) -> None:
        """Have the workers holding these connections close them (what they sent is kept)."""
        for worker in self._workers:
            mine = [conn for conn in conns if conn in worker.conns]
            if mine:
                worker.conns.difference_update(mine)
                self._publish_connections()
                worker.waiting.append((handoff.encode(handoff.Close(conns=mine)), None))
                self._send(worker)

    def _send(self, worker: StreamWorkerProcess) -> None:
        """Send what waits for this worker, in order, as far as the socket pair takes it."""
        loop = asyncio.get_running_loop()
        while worker.waiting:
            message, sock = worker.waiting[0]
            try:
                if sock is None:
                    worker.control.send(message)
                else:
                    socket.send_fds(worker.control, [message], [sock.fileno()])
            except BlockingIOError:
                if not worker.writer:
                    loop.add_writer(worker.control.fileno(), self._send, worker)
                    worker.writer = True
                return
            except OSError:  # the worker is gone: its exit is handled by _read
                self._drop_waiting(worker)
                return
            worker.waiting.popleft()
            if sock is not None:
                sock.close()
        if worker.writer:
            loop.remove_writer(worker.control.fileno())
            worker.writer = False

    def _drop_waiting(self, worker: StreamWorkerProcess) -> None:
        for _, sock in worker.waiting:
            if sock is not None:
                sock.close()
        worker.waiting.clear()
        if worker.writer:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_writer(worker.control.fileno())
            worker.writer = False

    def _events(self, worker: StreamWorkerProcess) -> None:
        while True:
            try:
                data = worker.control.recv(handoff.MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(worker.control.fileno())
                return
            events = handoff.to_main.decode(data)
            for conn in events.active:
                if conn in worker.conns:
                    self._on_active(conn)
            for conn in events.ended:
                if conn in worker.conns:
                    worker.conns.discard(conn)
                    self._on_ended(conn)
            if events.ended:
                self._publish_connections()

    def _read(self, worker: StreamWorkerProcess) -> None:
        try:
            data = os.read(worker.stdout, READ_BYTES)
        except BlockingIOError:
            return
        if data:
            try:
                frames = worker.decoder.feed(data)
            except ChannelError as exc:
                log.error("%s worker %d wrote garbage: %s", MODULE, worker.proc.pid, exc)
                worker.proc.kill()
                return
            for kind, payload in frames:
                if kind == FrameKind.COUNTERS:
                    self._stats.add(self._payloads.counters(payload))
                    continue
                self._out.write(kind, payload)  # records, drops and log lines, as the worker wrote them
            return
        self._exited(worker)

    def _exited(self, worker: StreamWorkerProcess) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.stdout)
        os.close(worker.stdout)
        worker.stdout = -1
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(worker.control.fileno())
        self._drop_waiting(worker)
        worker.control.close()
        code = worker.proc.wait()
        worker.done.set_result(code)
        lost = sorted(worker.conns)
        worker.conns.clear()
        self._publish_connections()
        for conn in lost:  # its connections closed with it: their places are free
            self._on_ended(conn)
        if self._stopping:
            return
        self._account_death(worker, code, len(lost))
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        now = time.monotonic()
        self._deaths.append(now)
        if len(self._deaths) == MAX_DEATHS and now - self._deaths[0] < DEATH_WINDOW_S:
            self.failure = (
                f"stream worker process {worker.proc.pid} {how}, the {MAX_DEATHS}th worker death in "
                f"{DEATH_WINDOW_S:.0f} s"
            )
            log.error("%s", self.failure)
            self._on_failure()
            return
        log.error(
            "syslog stream worker %d %s, closing %d connections (their senders reconnect); starting another",
            worker.proc.pid,
            how,
            len(lost),
        )
        self._workers[self._workers.index(worker)] = self._spawn(worker.index)
        self.restarts += 1

    def _account_death(self, worker: StreamWorkerProcess, code: int, connections: int) -> None:
        """Ledger what died with a worker: the messages it accepted but never handed on, and
        its connections (reset). Its slot is put back to what it handed on, for its successor."""
        origin = f"syslog stream worker pid {worker.proc.pid}, {_ended(code)}"
        now = time.time()
        drops = []
        if connections:
            drops.append(
                Drop(
                    source=origin,
                    reason="connection_reset",
                    detail="worker_crashed",
                    records=connections,
                    bytes=0,
                    first=now,
                    last=now,
                )
            )
        if self._inflight is not None and worker.index < len(self._inflight_slots):
            slot = self._inflight.writer(self._inflight_slots[worker.index], worker.proc.pid)
            lost, size = slot.settle()
            if lost > 0:
                drops.append(
                    Drop(
                        source=origin,
                        reason="collector_crash",
                        detail="worker_crashed",
                        records=lost,
                        bytes=max(0, size),
                        first=now,
                        last=now,
                    )
                )
        self._out.drops(drops)

    async def stop(self, timeout: float) -> None:
        """SIGTERM every worker (each reads what its connections still hold, then exits) and
        take their last frames; kill what is still running after `timeout` seconds."""
        self._stopping = True
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        pending = [worker.done for worker in self._workers if not worker.done.done()]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for worker in self._workers:
            if worker.done in late:
                log.warning("%s worker %d did not stop in %.0f s; killing it", MODULE, worker.proc.pid, timeout)
                worker.proc.kill()
        if late:
            await asyncio.wait(late, timeout=1.0)


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
