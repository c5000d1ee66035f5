"""Worker processes that share a socket with the collector's main process, on its asyncio loop.

A collector whose per-message work needs more than one core starts N copies of a worker module
(`python -m <module>`) that inherit its bound socket, get a `WorkerSetup` on stdin and send
channel frames on stdout. The workers take turns at receiving: a token in a pipe (`Turn`)
carries the number of the next batch, so only its holder reads the socket and batches are
numbered in the order the kernel queued them. Parsing, the costly part, then runs in
parallel, and the pool hands the workers' records on in batch order: what one sender sent
is stored in the order it arrived, whichever worker parsed it.

A worker's RECORDS frame carries its batch number (8 bytes, big-endian) before the NDJSON,
one frame per batch taken, even if nothing in it was accepted. Every other frame goes to
`on_frame` as it comes. A worker that exits on its own is a fault: `failure` says which and
how, `on_failure` is called, and the collector exits so the engine restarts it.

The main process can also talk back: each worker gets a pipe of its own (`WorkerSetup.inbox`)
on which `WorkerPool.broadcast` sends frames, e.g. what one worker learned that its siblings
need (flow templates). A worker reads it between batches (`Inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from collectors.common.channel import ChannelError, FrameDecoder, FrameKind, encode_frame
from collectors.common.harness import enlarge_pipe

READ_BYTES = 1 << 20
BATCH_NUMBER = struct.Struct(">Q")

log = logging.getLogger("collectors.workers")

S = TypeVar("S")


def default_worker_count() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


class Turn:
    """A worker's side of the receive token. `take` blocks until it is this worker's turn and
    returns the number of the batch it may receive; `give` passes the turn on with the next
    number (the same one if nothing was received). None: the main process is gone."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd

    def take(self) -> int | None:
        token = os.read(self._read_fd, BATCH_NUMBER.size)  # one 8-byte write: never split
        return BATCH_NUMBER.unpack(token)[0] if token else None

    def give(self, number: int) -> None:
        os.write(self._write_fd, BATCH_NUMBER.pack(number))


def batch_payload(number: int, ndjson: bytes) -> bytes:
    """The payload of a worker's RECORDS frame."""
    return BATCH_NUMBER.pack(number) + ndjson


class WorkerSetup(msgspec.Struct, Generic[S], frozen=True, kw_only=True):
    """What a worker process reads on stdin: its inherited descriptors, the listener it
    receives for, and its collector's settings (a worker decodes `WorkerSetup[ItsSettings]`)."""

    fd: int  # the shared, bound socket
    turn: tuple[int, int]  # the turn pipe: read end, write end
    listener: str
    settings: S
    inbox: int = -1  # the read end of this worker's pipe from the main process (`Inbox`)


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
        self._early: dict[int, memoryview] = {}  # batches parsed before one with a lower number

    @property
    def waiting(self) -> int:
        """How many batches wait for a lower-numbered one."""
        return len(self._early)

    def arrived(self, number: int, records: memoryview) -> list[memoryview]:
        if number != self.next_number:
            self._early[number] = records
            return []
        ready = self._take(number, records)
        while (early := self._early.pop(self.next_number, None)) is not None:
            ready += self._take(self.next_number, early)
        return ready

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
    def __init__(self, proc: subprocess.Popen[bytes], stdout: int, inbox: int) -> None:
        self.proc = proc
        self.stdout = stdout
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
        on_records: Callable[[memoryview], None],
        on_frame: Callable[[FrameKind, bytes], None],
        on_failure: Callable[[], None],
    ) -> None:
        self._module = module
        self._sock = sock
        self._listener = listener
        self._settings = settings
        self._count = count
        self._on_records = on_records
        self._on_frame = on_frame
        self._on_failure = on_failure
        self._workers: list[_Worker] = []
        self._stopping = False
        self._order = BatchOrder()
        self._turn_fds: tuple[int, ...] = ()
        self.failure: str | None = None  # what went wrong, once a worker died on its own

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        turn_read, turn_write = os.pipe()
        os.write(turn_write, BATCH_NUMBER.pack(0))
        fds = (self._sock.fileno(), turn_read, turn_write)
        for _ in range(self._count):
            read_fd, write_fd = os.pipe()
            enlarge_pipe(read_fd)
            inbox_read, inbox_write = os.pipe()
            enlarge_pipe(inbox_write)
            setup = msgspec.json.encode(
                WorkerSetup(
                    fd=fds[0],
                    turn=(turn_read, turn_write),
                    listener=self._listener,
                    settings=self._settings,
                    inbox=inbox_read,
                )
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", self._module],
                stdin=subprocess.PIPE,
                stdout=write_fd,
                pass_fds=(*fds, inbox_read),
            )
            os.close(write_fd)
            os.close(inbox_read)
            assert proc.stdin is not None
            proc.stdin.write(setup)
            proc.stdin.close()
            os.set_blocking(read_fd, False)
            os.set_blocking(inbox_write, False)
            worker = _Worker(proc, read_fd, inbox_write)
            self._workers.append(worker)
            loop.add_reader(read_fd, self._read, worker)
        # Kept open here too: the token lives on while any worker is being restarted or stopped.
        self._turn_fds = (turn_read, turn_write)

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
                    for records in self._order.arrived(number, memoryview(payload)[BATCH_NUMBER.size :]):
                        self._on_records(records)
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
        if not self._stopping:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self.failure = f"worker process {worker.proc.pid} ({self._module}) {how}"
            log.error("%s", self.failure)
            self._on_failure()

    async def stop(self, timeout: float) -> None:
        """SIGTERM every worker and take their last frames; kill what is still running after
        `timeout` seconds."""
        self._stopping = True
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
        for records in self._order.drain():
            self._on_records(records)
        for fd in self._turn_fds:
            os.close(fd)
        self._turn_fds = ()
