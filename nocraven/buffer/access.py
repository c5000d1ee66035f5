"""How the rest of the engine reaches the buffer: one object in the engine context.

Collectors hand it records (`append_ndjson`, `append`) and drops for the ledger; the forwarder
reads through `store` (cursors per sink); `tail --follow` readers register as followers. The
buffer component opens the store into it and takes it away on stop, so a caller never holds a
closed store: while it is None, appends report that nothing was stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from nocraven.buffer.filter import RecordFilter
from nocraven.buffer.store import SegmentStore
from nocraven.errors import ApiError, ErrorCode

log = logging.getLogger("nocraven.buffer")

FOLLOW_QUEUE_LINES = 20_000  # a `tail --follow` reader further behind than this is cut off
# Records waiting for the seal worker beyond which collectors stop being read (their pipes fill,
# their receive loops block: TCP senders are pushed back, UDP waits in the kernel's buffer) until
# half of it is sealed. Under load the engine's memory then stays near this, where the backlog
# grew to max_unsealed_bytes (64 MiB) and appends beyond it were refused: records lost even on
# TCP. 128 segments of the default size, ~0.4 s of records at 200,000 msgs/s: with the pipe and
# the kernel's receive buffer in front, a burst still waits while the sealer catches up.
BACKLOG_PAUSE_BYTES = 32 * 1024 * 1024


class Follower:
    """A `tail --follow` reader: a bounded queue of lines filled by appends."""

    def __init__(self, service: str | None, match: RecordFilter | None = None) -> None:
        self.service = service
        self.match = match if match is not None and match.active else None
        self.lines: list[bytes] = []
        self.wake = asyncio.Event()
        self.overflowed = False

    def offer(self, service: str, lines: Sequence[bytes]) -> None:
        if self.overflowed or (self.service is not None and service != self.service):
            return
        if self.match is not None:
            lines = [line for line in lines if line and self.match(line)]
            if not lines:
                return
        if len(self.lines) + len(lines) > FOLLOW_QUEUE_LINES:
            self.overflowed = True
        else:
            self.lines.extend(lines)
        self.wake.set()


class BufferAccess:
    def __init__(self) -> None:
        self.store: SegmentStore | None = None
        self.followers: set[Follower] = set()
        self.opened = asyncio.Event()
        self._durable_waiters: list[asyncio.Future[bool]] = []
        self._committing: asyncio.Task[None] | None = None

    def attach(self, store: SegmentStore) -> None:
        self.store = store
        self.opened.set()

    def detach(self) -> None:
        self.store = None
        self.opened.clear()

    def require_store(self) -> SegmentStore:
        if self.store is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "the buffer is not open right now; see `nocraven status`")
        return self.store

    async def wait_open(self) -> SegmentStore:
        """The store, once the buffer has opened it (for components that read from it)."""
        while self.store is None:
            await self.opened.wait()
        return self.store

    def append(
        self, service: str, lines: Sequence[bytes], now: float, source: str | None = None, received_bytes: int = 0
    ) -> bool:
        store = self.store
        if store is None:
            return False
        store.append(service, lines, now, source, received_bytes)
        for follower in self.followers:
            follower.offer(service, lines)
        return True

    def backlog_full(self) -> bool:
        """Whether collectors should stop handing records over for now: more than
        BACKLOG_PAUSE_BYTES (or half of max_unsealed_bytes, if that is less) wait for sealing."""
        store = self.store
        return store is not None and store.unsealed_bytes > _pause_bytes(store)

    def backlog_eased(self) -> bool:
        """Whether a paused collector may be read again: half of the pause level is left, or
        there is no buffer (its records are then accounted as lost without it, as before)."""
        store = self.store
        return store is None or store.unsealed_bytes <= _pause_bytes(store) // 2

    def append_ndjson(self, service: str, chunk: bytes, now: float, received_bytes: int = 0) -> int | None:
        """Records as a collector process sends them, newline-joined: stored without splitting.
        `received_bytes`: what they were on the wire, when the collector says (buffer stats).
        Returns how many were stored, or None when no buffer is open."""
        store = self.store
        if store is None:
            return None
        count = store.append_ndjson(service, chunk, now, received_bytes=received_bytes)
        if self.followers:
            lines = chunk.split(b"\n")
            for follower in self.followers:
                follower.offer(service, lines)
        return count

    async def durable(self) -> bool:
        """Wait until everything appended before this call is committed to disk (sealed, and
        SQLite's commit fsynced); False if no store is open. Callers arriving while a commit runs
        share the next one (group commit): a burst of acknowledgements costs one fsync each turn."""
        if self.store is None:
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._durable_waiters.append(waiter)
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_waiting())
        return await waiter

    async def _commit_waiting(self) -> None:
        while self._durable_waiters:
            waiting, self._durable_waiters = self._durable_waiters, []
            store = self.store
            stored = False
            if store is not None:
                try:
                    await asyncio.to_thread(store.seal_all, time.time())
                    stored = True
                except Exception:
                    log.exception("committing records for a durable acknowledgement failed")
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(stored)

    def record_drop(self, service: str, reason: str, records: int, size: int, now: float, source: str | None) -> bool:
        if self.store is None:
            return False
        self.store.record_drop(service, reason, records, size, now, source)
        return True


def _pause_bytes(store: SegmentStore) -> int:
    # Below the hard limit, so a paused reader is what happens first, not refused appends.
    return min(BACKLOG_PAUSE_BYTES, store.limits.max_unsealed_bytes // 2)
