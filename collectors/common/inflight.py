"""What a collector's processes received, counted where the engine can still read it after a crash.

A collector holds messages in memory between the socket and the engine (a UDP worker's batch, a
stream worker's coalescing buffer, the main process's frame being filled): a kill -9 loses them,
and the counters it reports once a second die with it. So the engine creates one small shared
memory block per collector run (a memfd, inherited by descriptor like the listening sockets)
and every process of the collector owns one slot in it: its pid, the messages it accepted and
their bytes (cumulative, as the engine counts received bytes), the same for what it handed on
(written to its parent), and, in the main process's slot, the stream connections open. Each
process writes only its own slot, once per batch, so no lock is needed; the engine reads the
block when the collector has exited, and the messages accepted here but never handed to it are
the crash's loss (`nocraven.ingest.collector`). When one worker dies alone, its main process
reads what it accepted but did not hand on from its slot, accounts it, and `settle`s the slot.

A worker that replaces a dead one takes over its slot and counts on from what is there.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass

from collectors.common.inherited import inherited

SLOTS = 256  # the main process and every worker it runs at once (a port change adds a pool)
MAIN_SLOT = 0


@dataclass(frozen=True)
class InflightTotals:
    """The block summed over its slots."""

    messages: int
    bytes: int
    connections: int  # stream connections open when last published (the main process's slot)
    pids: list[int]  # the processes that wrote to it
    main_pid: int  # 0: the collector never opened the block (it does not count)


class InflightBlock:
    """Slots of 8-byte integers: pid, messages and bytes accepted, connections open, messages
    and bytes handed on."""

    PID, MESSAGES, BYTES, CONNECTIONS, HANDED_MESSAGES, HANDED_BYTES = range(6)
    FIELDS = 6

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.slots = os.fstat(fd).st_size // (self.FIELDS * 8)  # as its creator sized it
        self._map = mmap.mmap(fd, self.slots * self.FIELDS * 8)
        self._q = memoryview(self._map).cast("q")
        self._claimed = MAIN_SLOT + 1

    @classmethod
    def create(cls, slots: int = SLOTS) -> InflightBlock:
        """A new, zeroed block (the engine, once per collector run)."""
        fd = os.memfd_create("nocraven-inflight", 0)  # not CLOEXEC: pass_fds hands it on
        os.ftruncate(fd, slots * cls.FIELDS * 8)
        return cls(fd)

    @classmethod
    def given(cls) -> InflightBlock | None:
        """The block the engine passed to this collector, None when it runs on its own."""
        fd = inherited().inflight
        return cls(fd) if fd >= 0 else None

    def claim(self, count: int) -> list[int]:
        """Slots for `count` worker processes (the main process hands them out); fewer, or
        none, when the block is full: those workers are not counted."""
        first, self._claimed = self._claimed, min(self.slots, self._claimed + count)
        return list(range(first, self._claimed))

    def writer(self, slot: int, pid: int | None = None) -> SlotWriter:
        return SlotWriter(self._q, slot * self.FIELDS, os.getpid() if pid is None else pid)

    def totals(self) -> InflightTotals:
        values = self._q.tolist()
        step = self.FIELDS
        pids = [pid for pid in values[self.PID :: step] if pid > 0]
        return InflightTotals(
            messages=sum(values[self.MESSAGES :: step]),
            bytes=sum(values[self.BYTES :: step]),
            connections=values[MAIN_SLOT * step + self.CONNECTIONS],
            pids=pids,
            main_pid=values[MAIN_SLOT * step + self.PID],
        )

    def close(self) -> None:
        self._q.release()
        self._map.close()
        os.close(self.fd)


class SlotWriter:
    """One process's slot. `add` per batch accepted (before it is written on) and `handed`
    once it was written: two integer stores each, no lock, no system call."""

    __slots__ = ("_base", "_q", "bytes", "handed_bytes", "handed_messages", "messages")

    def __init__(self, q: memoryview, base: int, pid: int) -> None:
        self._q = q
        self._base = base
        q[base + InflightBlock.PID] = pid
        # A replacement worker counts on from its predecessor's totals.
        self.messages: int = q[base + InflightBlock.MESSAGES]
        self.bytes: int = q[base + InflightBlock.BYTES]
        self.handed_messages: int = q[base + InflightBlock.HANDED_MESSAGES]
        self.handed_bytes: int = q[base + InflightBlock.HANDED_BYTES]

    def add(self, messages: int, size: int) -> None:
        self.messages += messages
        self.bytes += size
        q, base = self._q, self._base
        q[base + 1] = self.messages  # InflightBlock.MESSAGES
        q[base + 2] = self.bytes  # InflightBlock.BYTES

    def handed(self, messages: int, size: int) -> None:
        self.handed_messages += messages
        self.handed_bytes += size
        q, base = self._q, self._base
        q[base + 4] = self.handed_messages  # InflightBlock.HANDED_MESSAGES
        q[base + 5] = self.handed_bytes  # InflightBlock.HANDED_BYTES

    def settle(self) -> tuple[int, int]:
        """After its process died alone: what it accepted but never handed on (messages,
        bytes), which the caller accounts; the slot then counts only what was handed on, so a
        later crash of the collector does not count it twice."""
        lost = (self.messages - self.handed_messages, self.bytes - self.handed_bytes)
        self.messages, self.bytes = self.handed_messages, self.handed_bytes
        self._q[self._base + InflightBlock.MESSAGES] = self.messages
        self._q[self._base + InflightBlock.BYTES] = self.bytes
        return lost

    def connections(self, count: int) -> None:
        self._q[self._base + InflightBlock.CONNECTIONS] = count


def open_slot(fd: int, slot: int) -> SlotWriter | None:
    """A worker process's slot in the block its main process passed (fd -1 or slot -1: none)."""
    if fd < 0 or slot < 0:
        return None
    return InflightBlock(fd).writer(slot)
