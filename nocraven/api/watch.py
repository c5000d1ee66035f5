"""GET /v1/watch: NDJSON, first a full snapshot, then events with a monotonic `seq`.

This is the one place events become bytes: `{"seq", "kind", "at", "data"}` a line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from nocraven.api import wire
from nocraven.schema.engine import EngineStatus
from nocraven.schema.events import EngineStopping, Published, Snapshot, WatchDropped

# A watcher whose socket takes no bytes for this long is cut off; its queue is bounded anyway.
WRITE_TIMEOUT_S = 10.0
IDLE_CHECK_S = 1.0


class FeedSubscription(Protocol):
    dropped_reason: str | None

    async def next_batch(self) -> list[Published]: ...

    def close(self) -> None: ...


class EventFeed(Protocol):
    """What the watch stream needs of the engine's event bus (the API never imports the engine)."""

    @property
    def seq(self) -> int: ...

    def subscribe(self) -> FeedSubscription: ...


def encode_published(published: Published) -> bytes:
    event = published.event
    data = event.status if isinstance(event, Snapshot) else event
    return wire.dumps_line({"seq": published.seq, "kind": event.kind, "at": published.at, "data": data})


async def stream_watch(
    request: web.Request, bus: EventFeed, snapshot: Callable[[], EngineStatus]
) -> web.StreamResponse:
    # Subscribe and snapshot in the same loop step: nothing can slip between the two.
    sub = bus.subscribe()
    first = Published(seq=bus.seq, at=time.time(), event=Snapshot(status=snapshot()))
    response = web.StreamResponse(headers={"Content-Type": wire.NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        await asyncio.wait_for(response.write(encode_published(first)), WRITE_TIMEOUT_S)
        while True:
            try:
                batch = await asyncio.wait_for(sub.next_batch(), IDLE_CHECK_S)
            except TimeoutError:
                # aiohttp does not cancel a handler whose client left; notice it here.
                if request.transport is None or request.transport.is_closing():
                    break
                continue
            if not batch:
                reason = sub.dropped_reason or "dropped"
                notice = Published(seq=bus.seq, at=time.time(), event=WatchDropped(reason=reason))
                await asyncio.wait_for(response.write(encode_published(notice)), WRITE_TIMEOUT_S)
                break
            payload = b"".join(encode_published(published) for published in batch)
            await asyncio.wait_for(response.write(payload), WRITE_TIMEOUT_S)
            if any(isinstance(published.event, EngineStopping) for published in batch):
                break
    except (TimeoutError, ConnectionResetError, ConnectionError):
        pass  # the watcher went away or stopped reading; nothing to tell it
    finally:
        sub.close()
    return response
