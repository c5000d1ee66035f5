"""Parse workers: large bodies are decoded, normalised and encoded in other processes.

One collector process holds the TLS connections, the tokens, the duplicate memory, the
per-agent counters and the durability handshake; on its own it is bound to one core, and the
JSON work (about two thirds of its time per event) then waits behind the TLS and HTTP work.
So a body of `POOL_MIN_BYTES` or more goes to a pool of worker processes, which run
`body.parse_documents` and `intake.normalise_batch` on it and send back a `Prepared`: the
records already encoded as NDJSON, plus a few small lists. Nothing about the acknowledgement
changes: the server settles duplicates, stores and answers exactly as for a body parsed in
place, and a body is never half in a worker: its refusal (`BodyError`) comes back whole.

A worker that dies (killed, out of memory) fails the batches it held with `WorkerLost`: the
agent gets 503 and resends, nothing was stored or acknowledged. The pool is then started
again for the next batch. Workers are spawned (not forked: the collector runs threads), hold
no socket and no pipe of the engine's (stdin and stdout go to /dev/null once they start), and
die with the collector.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Final, TypeVar

from collectors.winevents.body import ItemError, parse_documents
from collectors.winevents.bulk import BulkAction, parse_bulk
from collectors.winevents.intake import Prepared, normalise_batch

T = TypeVar("T")
POOL_MIN_BYTES: Final = 32 * 1024  # smaller bodies are parsed in place: the hand-over would cost more


class WorkerLost(Exception):
    """The worker parsing this body died; nothing of it was stored."""


def default_worker_count() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def parse_body(data: bytes, max_depth: int, received_at: str, source: str, agent: str) -> Prepared:
    """A body into a `Prepared` (raises `BodyError`): what a worker runs, and the server in place."""
    documents = parse_documents(data, max_depth)
    return normalise_batch(documents.items, documents.errors, received_at=received_at, source=source, agent=agent)


def parse_bulk_body(
    data: bytes, default_index: str | None, max_depth: int, received_at: str, source: str, agent: str
) -> tuple[list[BulkAction], Prepared]:
    """An Elasticsearch `_bulk` body: its actions (for the per-item reply, without their
    documents, which became the records) and the `Prepared` of the documents to store."""
    actions = parse_bulk(data, default_index, max_depth)
    documents = [(position, item.document) for position, item in enumerate(actions) if item.error is None]
    refused = [ItemError(position, item.error) for position, item in enumerate(actions) if item.error]
    prepared = normalise_batch(documents, refused, received_at=received_at, source=source, agent=agent)
    for item in actions:
        item.document = None
    return actions, prepared


def _worker_setup() -> None:
    from collectors.common.harness import die_with_parent, tune_gc

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the engine, which stops us
    # fds 0 and 1 are the collector's channel with the engine: nothing of ours may land on it,
    # and the engine must see it end when the collector goes (stderr stays: the engine's log).
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    tune_gc()


class ParsePool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_setup
            )
        return self._executor

    async def parse(self, data: bytes, max_depth: int, received_at: str, source: str, agent: str) -> Prepared:
        return await self._run(parse_body, data, max_depth, received_at, source, agent)

    async def parse_bulk(
        self, data: bytes, default_index: str | None, max_depth: int, received_at: str, source: str, agent: str
    ) -> tuple[list[BulkAction], Prepared]:
        return await self._run(parse_bulk_body, data, default_index, max_depth, received_at, source, agent)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        for _attempt in range(2):
            executor = self._pool()
            try:
                future = executor.submit(work, *args)
            except BrokenProcessPool:
                # A worker died while idle: this batch was never in it, so a new pool takes it.
                self._replace(executor)
                continue
            try:
                return await asyncio.wrap_future(future)
            except BrokenProcessPool:
                self._replace(executor)
                break
        raise WorkerLost("a parse worker died while it held this batch")

    def _replace(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:  # the first batch to notice starts a new pool
            self._executor = None
            self.restarts += 1
            executor.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return list(processes)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
