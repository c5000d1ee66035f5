"""Worker processes that share a socket with the collector's main process, on its asyncio loop.

A collector whose per-message work needs more than one core starts N copies of a worker module
(`python -m <module>`) that inherit its bound socket, get a `WorkerSetup` on stdin and send
channel frames on stdout. The workers take turns at receiving: a token in a pipe (`Turn`)
carries the number of the next batch, so only its holder reads the socket and batches are
numbered in the order the kernel queued them. Parsing, the costly part, then runs in
parallel, and the pool hands the workers' records on in batch order: what one sender sent
is stored in the order it arrived, whichever worker parsed it.

A worker that dies is replaced on its own; its siblings, the socket (and what the kernel
queued on it) and the collector's TCP connections live on. Each worker says in shared memory
(`TurnSlots`, a few integer stores per batch) which turn it holds and which batch it is
parsing, so the pool knows what died with it: a batch in progress is accounted as lost
(`on_lost`, with its datagram count and size) and skipped in the order, and a turn token that
died with the worker is put back.

A worker's RECORDS frame carries its batch number, then the bytes its records took on the wire
(8 bytes each, big-endian) before the NDJSON, one frame per batch taken, even if nothing in it
was accepted. Every other frame goes to
`on_frame` as it comes. A worker that exits on its own is replaced (see below); one that keeps dying (`MAX_DEATHS`
in `DEATH_WINDOW_S`) is a fault: `failure` says which and how, `on_failure` is called, and the
collector exits so the engine restarts it with its backoff.

The main process can also talk back: each worker gets a pipe of its own (`WorkerSetup.inbox`)
on which `WorkerPool.broadcast` sends frames, e.g. what one worker learned that its siblings
need (flow templates). A worker reads it between batches (`Inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from collectors.common.channel import RECEIVED_BYTES, ChannelError, FrameDecoder, FrameKind, encode_frame
from collectors.common.harness import enlarge_pipe
from collectors.common.inflight import InflightBlock
from collectors.common.udp import MAX_BATCH, headers_size, taken, unfill

READ_BYTES = 1 << 20
BATCH_NUMBER = struct.Struct(">Q")
BATCH_HEAD = struct.Struct(">QQ")  # a worker's RECORDS frame: batch number, received bytes
MAX_DEATHS = 5  # worker deaths within DEATH_WINDOW_S before the collector gives up
DEATH_WINDOW_S = 60.0
TOKEN_CHECKS = 3  # looks at the token, TOKEN_CHECK_S apart, before deciding it died with a worker
TOKEN_CHECK_S = 0.03

log = logging.getLogger("collectors.workers")

S = TypeVar("S")


def default_worker_count() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


class TurnSlots:
    """Shared memory, one slot per worker: the turn it holds and the batch it is parsing (with
    its datagram count and bytes), -1 for none, and its receive headers (`udp.BatchReceiver`),
    where the kernel counts what a receive in progress has taken. The worker writes, the pool
    reads after a death. A memfd, so a worker started with exec inherits it by descriptor."""

    HELD, BATCH, RECORDS, BYTES = range(4)
    _FIELDS = 4
    _HEADERS = headers_size(MAX_BATCH)

    def __init__(self, fd: int, count: int) -> None:
        self.fd = fd
        self._count = count
        self._map = mmap.mmap(fd, count * (self._FIELDS * 8 + self._HEADERS))
        self._q = memoryview(self._map)[: count * self._FIELDS * 8].cast("q")

    @classmethod
    def create(cls, count: int) -> TurnSlots:
        fd = os.memfd_create("nocraven-turn-slots", 0)  # not CLOEXEC: pass_fds hands it on
        os.ftruncate(fd, count * (cls._FIELDS * 8 + cls._HEADERS))
        slots = cls(fd, count)
        for index in range(count):
            slots.clear(index)
        return slots

    def clear(self, index: int) -> None:
        base = index * self._FIELDS
        self._q[base : base + self._FIELDS] = memoryview(struct.pack("4q", -1, -1, 0, 0)).cast("q")
        with self.headers(index) as view:
            unfill(view)

    def read(self, index: int) -> tuple[int, int, int, int]:
        base = index * self._FIELDS
        held, batch, records, size = self._q[base : base + self._FIELDS].tolist()
        return held, batch, records, size

    def set(self, index: int, field: int, value: int) -> None:
        self._q[index * self._FIELDS + field] = value

    def headers(self, index: int) -> memoryview:
        """Slot `index`'s receive headers (MAX_BATCH entries)."""
        start = self._count * self._FIELDS * 8 + index * self._HEADERS
        return memoryview(self._map)[start : start + self._HEADERS]

    def receiving(self, index: int) -> tuple[int, int]:
        """Datagrams and bytes slot `index`'s worker took in a receive it did not finish (died
        in the system call, or before reporting them with `Turn.parsing`)."""
        with self.headers(index) as view:
            return taken(view)

    def close(self) -> None:
        self._q.release()
        self._map.close()
        os.close(self.fd)


class Turn:
    """A worker's side of the receive token. `take` blocks until it is this worker's turn and
    returns the number of the batch it may receive; `give` passes the turn on with the next
    number (the same one if nothing was received). None: the main process is gone.

    With `slots`, the worker says what it holds, so its pool can recover after its death:
    `take` and `give` record the turn, `parsing` (before `give`) and `parsed` the batch."""

    def __init__(self, read_fd: int, write_fd: int, slots: TurnSlots | None = None, index: int = 0) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._slots = slots
        self._index = index

    def take(self) -> int | None:
        token = os.read(self._read_fd, BATCH_NUMBER.size)  # one 8-byte write: never split
        if not token:
            return None
        number: int = BATCH_NUMBER.unpack(token)[0]
        if self._slots is not None:
            self._slots.set(self._index, TurnSlots.HELD, number)
        return number

    def parsing(self, number: int, records: int, size: int) -> None:
        if self._slots is not None:
            self._slots.set(self._index, TurnSlots.RECORDS, records)
            self._slots.set(self._index, TurnSlots.BYTES, size)
            self._slots.set(self._index, TurnSlots.BATCH, number)

    def give(self, number: int) -> None:
        os.write(self._write_fd, BATCH_NUMBER.pack(number))
        if self._slots is not None:
            self._slots.set(self._index, TurnSlots.HELD, -1)

    def headers(self) -> memoryview | None:
        """Where this worker's receive headers go (`udp.BatchReceiver`), shared with its pool so
        that a death inside a receive is counted; None without slots."""
        return self._slots.headers(self._index) if self._slots is not None else None

    def parsed(self) -> None:
        if self._slots is not None:
            self._slots.set(self._index, TurnSlots.BATCH, -1)


def batch_prefix(number: int, received: int) -> bytes:
    """What goes before the NDJSON in a worker's RECORDS frame (written gathered, no copy)."""
    return BATCH_HEAD.pack(number, received)


def batch_payload(number: int, ndjson: bytes, received: int = 0) -> bytes:
    """The payload of a worker's RECORDS frame."""
    return batch_prefix(number, received) + ndjson


class WorkerSetup(msgspec.Struct, Generic[S], frozen=True, kw_only=True):
    """What a worker process reads on stdin: its inherited descriptors, the listener it
    receives for, and its collector's settings (a worker decodes `WorkerSetup[ItsSettings]`)."""

    fd: int  # the shared, bound socket
    turn: tuple[int, int]  # the turn pipe: read end, write end
    listener: str
    settings: S
    slots: int = -1  # the TurnSlots memfd, -1 for none
    slot_count: int = 0
    slot: int = 0  # this worker's slot
    inbox: int = -1  # the read end of this worker's pipe from the main process (`Inbox`)
    inflight: int = -1  # the collector's counter block (`collectors.common.inflight`), -1 for none
    inflight_slot: int = -1  # this worker's slot in it


class Inbox:
    """A worker's side of its pipe from the main process: frames, read without blocking."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._decoder = FrameDecoder()
        if fd >= 0:
            os.set_blocking(fd, False)

    def read(self) -> list[tuple[FrameKind, bytes]]:
        if self._fd < 0:
            return []
        frames: list[tuple[FrameKind, bytes]] = []
        while True:
            try:
                data = os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                return frames
            if not data:  # the main process is gone; the turn pipe tells the worker to stop
                self._fd = -1
                return frames
            frames += self._decoder.feed(data)


class BatchOrder:
    """Puts numbered batches back in the order they were taken. Sans-IO: a batch goes in with
    its number, and out come the batches that are now next in line, lowest number first.

    Numbers start at 0 and each is taken exactly once (the turn token carries them). A batch
    that arrives before a lower-numbered one waits for it; an empty batch (nothing accepted)
    keeps its place in the count but is not handed out."""

    def __init__(self) -> None:
        self.next_number = 0
        self.highest = -1  # the highest number that arrived or was skipped
        self._early: dict[int, memoryview] = {}  # batches parsed before one with a lower number
        self._skipped: set[int] = set()  # numbers given up for lost (their worker died)
        self.duplicates = 0  # batches that came under a number already used

    @property
    def waiting(self) -> int:
        """How many batches wait for a lower-numbered one."""
        return len(self._early)

    def arrived(self, number: int, records: memoryview) -> list[memoryview]:
        self.highest = max(self.highest, number)
        if number < self.next_number or number in self._early:
            if number in self._skipped:  # accounted as lost, then arrived after all: not twice
                self._skipped.discard(number)
                return []
            # A second batch under a used number (a turn token put back for a dead worker while
            # a sibling held the first): out of order, but never dropped unaccounted.
            self.duplicates += 1
            return [records] if records else []
        if number != self.next_number:
            self._early[number] = records
            return []
        ready = self._take(number, records)
        while (early := self._early.pop(self.next_number, None)) is not None:
            ready += self._take(self.next_number, early)
        return ready

    def seen(self, number: int) -> bool:
        """Whether batch `number` arrived (or was skipped) already."""
        return number < self.next_number or number in self._early

    def skip(self, number: int) -> list[memoryview]:
        """Batch `number` will never arrive (its worker died with it): stop waiting for it."""
        if self.seen(number):
            return []
        self._skipped.add(number)
        return self.arrived(number, memoryview(b""))

    def drain(self) -> list[memoryview]:
        """Everything still waiting, in number order: a worker killed in the middle of a batch
        leaves a gap that will never fill, and what came after it is kept."""
        ready: list[memoryview] = []
        for number in sorted(self._early):
            ready += self._take(number, self._early.pop(number))
        return ready

    def _take(self, number: int, records: memoryview) -> list[memoryview]:
        self.next_number = number + 1
        return [records] if records else []


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], stdout: int, index: int, inbox: int = -1) -> None:
        self.proc = proc
        self.stdout = stdout
        self.index = index  # its TurnSlots slot
        self.inbox = inbox  # write end of the worker's pipe from us
        self.unsent = bytearray()  # frames for the inbox that did not fit the pipe yet
        self.decoder = FrameDecoder()
        self.done = asyncio.get_running_loop().create_future()


class WorkerPool:
    def __init__(
        self,
        module: str,
        sock: socket.socket,
        listener: str,
        settings: object,
        count: int,
        on_records: Callable[[memoryview, int], None],
        on_frame: Callable[[FrameKind, bytes], None],
        on_failure: Callable[[], None],
        on_lost: Callable[[int, int, str], None] | None = None,
        inflight: InflightBlock | None = None,
    ) -> None:
        self._module = module
        self._sock = sock
        self._listener = listener
        self._settings = settings
        self._count = count
        self._on_records = on_records  # (NDJSON, the bytes its records took on the wire)
        self._on_frame = on_frame
        self._on_failure = on_failure
        self._on_lost = on_lost  # (datagrams, bytes, why): a batch died with its worker
        self._inflight = inflight
        self._inflight_slots: list[int] = []  # per worker index; a replacement takes over its slot
        self._workers: list[_Worker] = []
        self._stopping = False
        self._order = BatchOrder()
        self._turn_fds: tuple[int, ...] = ()
        self._slots: TurnSlots | None = None
        self._deaths: deque[float] = deque(maxlen=MAX_DEATHS)
        self._replacing: set[asyncio.Task[None]] = set()
        self.restarts = 0  # workers replaced since the start
        self.failure: str | None = None  # what went wrong, once workers kept dying

    def start(self) -> None:
        turn_read, turn_write = os.pipe()
        os.write(turn_write, BATCH_NUMBER.pack(0))
        # Kept open here too: the token lives on while any worker is being restarted or stopped.
        self._turn_fds = (turn_read, turn_write)
        self._slots = TurnSlots.create(self._count)
        if self._inflight is not None:
            self._inflight_slots = self._inflight.claim(self._count)
        for index in range(self._count):
            self._workers.append(self._spawn(index))

    def _spawn(self, index: int) -> _Worker:
        assert self._slots is not None
        turn_read, turn_write = self._turn_fds
        fds: tuple[int, ...] = (self._sock.fileno(), turn_read, turn_write, self._slots.fd)
        inflight_slot = self._inflight_slots[index] if index < len(self._inflight_slots) else -1
        if self._inflight is not None and inflight_slot >= 0:
            fds += (self._inflight.fd,)
        inbox_read, inbox_write = os.pipe()
        enlarge_pipe(inbox_write)
        setup = msgspec.json.encode(
            WorkerSetup(
                fd=fds[0],
                turn=(turn_read, turn_write),
                listener=self._listener,
                settings=self._settings,
                slots=self._slots.fd,
                slot_count=self._count,
                slot=index,
                inbox=inbox_read,
                inflight=self._inflight.fd if self._inflight is not None and inflight_slot >= 0 else -1,
                inflight_slot=inflight_slot,
            )
        )
        read_fd, write_fd = os.pipe()
        enlarge_pipe(read_fd)
        proc = subprocess.Popen(
            [sys.executable, "-m", self._module], stdin=subprocess.PIPE, stdout=write_fd, pass_fds=(*fds, inbox_read)
        )
        os.close(write_fd)
        os.close(inbox_read)
        assert proc.stdin is not None
        proc.stdin.write(setup)
        proc.stdin.close()
        os.set_blocking(read_fd, False)
        os.set_blocking(inbox_write, False)
        worker = _Worker(proc, read_fd, index, inbox_write)
        asyncio.get_running_loop().add_reader(read_fd, self._read, worker)
        return worker

    def broadcast(self, kind: FrameKind, payload: bytes, exclude_pid: int | None = None) -> None:
        """Send a frame to every worker (but the one with `exclude_pid`); a worker whose pipe is
        full gets it when the pipe drains, never blocking this loop."""
        frame = encode_frame(kind, payload)
        for worker in self._workers:
            if worker.proc.pid == exclude_pid or worker.inbox < 0:
                continue
            pending = bool(worker.unsent)
            worker.unsent += frame
            if not pending:
                self._send(worker)

    def _send(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        try:
            while worker.unsent:
                written = os.write(worker.inbox, worker.unsent)
                del worker.unsent[:written]
        except BlockingIOError:
            loop.add_writer(worker.inbox, self._send, worker)
            return
        except OSError:  # the worker is gone; its exit is reported by _read
            worker.unsent.clear()
        loop.remove_writer(worker.inbox)

    def _read(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.stdout, READ_BYTES)
        except BlockingIOError:
            return
        if data:
            try:
                frames = worker.decoder.feed(data)
            except ChannelError as exc:
                log.error("%s worker %d wrote garbage: %s", self._module, worker.proc.pid, exc)
                worker.proc.kill()
                return
            for kind, payload in frames:
                if kind == FrameKind.RECORDS:
                    (number,) = BATCH_NUMBER.unpack_from(payload)
                    self._hand_on(self._order.arrived(number, memoryview(payload)[BATCH_NUMBER.size :]))
                else:
                    self._on_frame(kind, payload)
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.stdout)
        os.close(worker.stdout)
        if worker.inbox >= 0:
            loop.remove_writer(worker.inbox)
            os.close(worker.inbox)
            worker.inbox = -1
        code = worker.proc.wait()
        worker.done.set_result(code)
        if self._stopping:
            return
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        now = time.monotonic()
        self._deaths.append(now)
        if len(self._deaths) == MAX_DEATHS and now - self._deaths[0] < DEATH_WINDOW_S:
            self.failure = (
                f"worker process {worker.proc.pid} ({self._module}) {how}, "
                f"the {MAX_DEATHS}th worker death in {DEATH_WINDOW_S:.0f} s"
            )
            log.error("%s", self.failure)
            self._on_failure()
            return
        log.error("%s worker %d %s; starting another in its place", self._module, worker.proc.pid, how)
        task = asyncio.ensure_future(self._replace(worker, how))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    def _hand_on(self, batches: list[memoryview]) -> None:
        """Each batch is its received bytes (8) and its NDJSON."""
        for batch in batches:
            if len(batch) > RECEIVED_BYTES.size:  # nothing accepted: nothing to store
                (received,) = RECEIVED_BYTES.unpack_from(batch)
                self._on_records(batch[RECEIVED_BYTES.size :], received)

    async def _replace(self, dead: _Worker, how: str) -> None:
        """Account what died with `dead`, put the turn token back if it died too, and start a
        new worker in its slot."""
        assert self._slots is not None
        held, batch, records, size = self._slots.read(dead.index)
        receiving, receiving_bytes = self._slots.receiving(dead.index)
        if batch >= 0 and not self._order.seen(batch):  # it may have died just after sending it
            if self._on_lost is not None:
                self._on_lost(records, size, f"worker {dead.proc.pid} {how} while parsing them")
            self._hand_on(self._order.skip(batch))
        if receiving and self._on_lost is not None:  # killed inside recvmmsg: the kernel said how many
            self._on_lost(receiving, receiving_bytes, f"worker {dead.proc.pid} {how} while receiving them")
        if self._inflight is not None and dead.index < len(self._inflight_slots):
            # What it accepted and did not hand on is the batch accounted above (by datagrams).
            self._inflight.writer(self._inflight_slots[dead.index], dead.proc.pid).settle()
        if not await self._token_alive(dead.index):
            if held >= 0:
                number = held + 1 if batch == held else held  # a received batch used its number
            else:  # it died between taking the token and saying so: the next unused number
                parsing = [self._slots.read(w.index)[TurnSlots.BATCH] for w in self._workers if w is not dead]
                number = max([self._order.highest, *parsing]) + 1
            if self._turn_fds and not self._stopping:
                os.write(self._turn_fds[1], BATCH_NUMBER.pack(number))
        if self._stopping:
            return
        self._slots.clear(dead.index)
        self._workers[self._workers.index(dead)] = self._spawn(dead.index)
        self.restarts += 1

    async def _token_alive(self, dead: int) -> bool:
        """Whether the turn token is in the pipe or held by a live worker. It is between the two
        only for the instant a worker takes it: several looks, a little apart, settle it."""
        assert self._slots is not None
        for _ in range(TOKEN_CHECKS):
            if self._token_queued():
                return True
            if any(self._slots.read(w.index)[TurnSlots.HELD] >= 0 for w in self._workers if w.index != dead):
                return True
            await asyncio.sleep(TOKEN_CHECK_S)
        return False

    def _token_queued(self) -> bool:
        if not self._turn_fds:
            return False
        queued = bytearray(4)
        fcntl.ioctl(self._turn_fds[0], termios.FIONREAD, queued)
        return int.from_bytes(queued, sys.byteorder) > 0

    async def stop(self, timeout: float) -> None:
        """SIGTERM every worker and take their last frames; kill what is still running after
        `timeout` seconds."""
        self._stopping = True
        for task in list(self._replacing):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        pending = [worker.done for worker in self._workers]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for worker in self._workers:
                if worker.done in late:
                    log.warning(
                        "%s worker %d did not stop in %.0f s; killing it", self._module, worker.proc.pid, timeout
                    )
                    worker.proc.kill()
            if late:
                await asyncio.wait(late, timeout=1.0)
        self._hand_on(self._order.drain())
        for fd in self._turn_fds:
            os.close(fd)
        self._turn_fds = ()
        if self._slots is not None:
            self._slots.close()
            self._slots = None
