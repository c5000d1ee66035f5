"""GET /v1/watch against a real engine in this process: snapshot first, then events, for every
watcher at once; a watcher that stops reading is dropped without stalling the engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from nocraven import config as config_mod
from nocraven.client import AsyncClient
from nocraven.engine.core import Engine
from nocraven.schema.base import ComponentState
from nocraven.schema.events import ComponentStateChanged, Published, Snapshot
from tests.support.engine import write_config


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    running = Engine(config_mod.load(write_config(tmp_path)))
    await running.start()
    yield running
    running.request_stop("test over")
    await running.stop()


def event(i: int) -> ComponentStateChanged:
    return ComponentStateChanged(component=f"probe{i}", state=ComponentState.RUNNING, previous=ComponentState.STARTING)


async def collect(client: AsyncClient, count: int, only_probes: bool = False) -> list[Published]:
    """The first `count` watch items; `only_probes` keeps the snapshot and this test's own events
    (components publish their counters every second, which may fall in between)."""
    seen = []
    async with contextlib.aclosing(client.watch()) as stream:
        async for item in stream:
            probe = isinstance(item.event, ComponentStateChanged) and item.event.component.startswith("probe")
            if only_probes and not (probe or isinstance(item.event, Snapshot)):
                continue
            seen.append(item)
            if len(seen) == count:
                break
    return seen


async def test_two_watchers_get_the_snapshot_then_the_same_events(engine: Engine) -> None:
    clients = [AsyncClient(engine.config.engine.socket) for _ in range(2)]
    tasks = [asyncio.create_task(collect(c, 1 + 5, only_probes=True)) for c in clients]
    while engine.bus.watcher_count < 2:
        await asyncio.sleep(0.01)
    for i in range(5):
        engine.bus.publish(event(i))
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    for seen in results:
        snapshot, *events = seen
        assert isinstance(snapshot.event, Snapshot)
        assert snapshot.event.status.version and "buffer" in snapshot.event.status.components
        assert [getattr(e.event, "component", None) for e in events] == [f"probe{i}" for i in range(5)]
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs) and seqs[0] > snapshot.seq
    for c in clients:
        await c.aclose()


async def test_a_slow_watcher_is_dropped_and_the_engine_keeps_answering(engine: Engine) -> None:
    engine.bus.watcher_limit = 100
    fast = AsyncClient(engine.config.engine.socket)
    fast_task = asyncio.create_task(collect(fast, 1 + 10000))
    # The slow watcher: a raw socket that reads the headers and then nothing more.
    reader, writer = await asyncio.open_unix_connection(str(engine.config.engine.socket))
    writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(b"GET /v1/watch HTTP/1.1\r\nHost: nocraven\r\nConnection: close\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    while engine.bus.watcher_count < 2:
        await asyncio.sleep(0.01)

    worst_status_s = 0.0
    status_client = AsyncClient(engine.config.engine.socket)
    for chunk in range(200):
        for i in range(50):
            engine.bus.publish(msgspec.structs.replace(event(i), restarts=chunk))
        started = time.monotonic()
        await status_client.get("/v1/status")
        worst_status_s = max(worst_status_s, time.monotonic() - started)
        await asyncio.sleep(0.005)
    seen = await asyncio.wait_for(fast_task, 20)
    assert len(seen) == 10001  # the fast watcher got everything
    for _ in range(100):  # the fast watcher's stream closes as its connection ends
        if engine.bus.watcher_count == 0:
            break
        await asyncio.sleep(0.02)
    assert engine.bus.watcher_count == 0  # the slow one was dropped
    assert worst_status_s < 2.0  # generous: it only shows the engine was never stuck behind the slow reader
    # What the slow watcher finds when it finally reads: events, then the reason it was dropped.
    body = await asyncio.wait_for(reader.read(), 15)
    lines = [json.loads(line) for line in _chunked_lines(body)]
    assert lines[-1]["kind"] == "watch.dropped"
    assert "behind" in lines[-1]["data"]["reason"]
    writer.close()
    await status_client.aclose()
    await fast.aclose()


def _chunked_lines(body: bytes) -> list[bytes]:
    """Undo HTTP/1.1 chunked encoding and split NDJSON lines."""
    data, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        data, rest = data + rest[:size], rest[size + 2 :]
    return [line for line in data.split(b"\n") if line]
