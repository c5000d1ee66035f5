"""GET /v1/watch: NDJSON, first a full snapshot, then events with a monotonic `seq`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from nocraven.api import wire
from nocraven.engine.bus import EventBus
from nocraven.events import SNAPSHOT, WATCH_DROPPED

# A watcher whose socket takes no bytes for this long is cut off; its queue is bounded anyway.
WRITE_TIMEOUT_S = 10.0
IDLE_CHECK_S = 1.0


async def stream_watch(
    request: web.Request, bus: EventBus, snapshot: Callable[[], dict[str, Any]]
) -> web.StreamResponse:
    # Subscribe and snapshot in the same loop step: nothing can slip between the two.
    sub = bus.subscribe()
    first = {"seq": bus.seq, "kind": SNAPSHOT, "data": snapshot()}
    response = web.StreamResponse(headers={"Content-Type": wire.NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        await asyncio.wait_for(response.write(wire.dumps_line(first)), WRITE_TIMEOUT_S)
        while True:
            try:
                batch = await asyncio.wait_for(sub.next_batch(), IDLE_CHECK_S)
            except TimeoutError:
                # aiohttp does not cancel a handler whose client left; notice it here.
                if request.transport is None or request.transport.is_closing():
                    break
                continue
            if not batch:
                notice = {
                    "seq": bus.seq,
                    "kind": WATCH_DROPPED,
                    "data": {"reason": sub.dropped_reason},
                }
                await asyncio.wait_for(response.write(wire.dumps_line(notice)), WRITE_TIMEOUT_S)
                break
            payload = b"".join(wire.dumps_line(event) for event in batch)
            await asyncio.wait_for(response.write(payload), WRITE_TIMEOUT_S)
            if any(event["kind"] == "engine.stopping" for event in batch):
                break
    except (TimeoutError, ConnectionResetError, ConnectionError):
        pass  # the watcher went away or stopped reading; nothing to tell it
    finally:
        sub.close()
    return response
