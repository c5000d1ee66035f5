"""A forwarder in a process of its own, for kill -9 tests: forwards the buffer in DIR to the
NATS URL and exits 0 once every service is caught up (prints its status as JSON then).
Usage: python -m tests.support.forward_child DIR URL MAX_BYTES_PER_S SERVICE..."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import msgspec

from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.forwarder import Forwarder
from nocraven.forward.health import Backoff
from nocraven.forward.settings import ForwardSettings, SinkSettings


async def main(directory: Path, url: str, cap: int, services: tuple[str, ...]) -> None:
    store = SegmentStore.open(directory, BufferLimits(), time.time())
    sink = SinkSettings(name="noc", urls=[url], timeout_s=3.0, batch_records=500, max_bytes_per_s=cap)
    forwarder = Forwarder(store, ForwardSettings(site="arena-01", sinks=[sink]), services, backoff=Backoff(0.1, 1))
    forwarder.start()
    try:
        while not all(store.cursor("noc", s) == store.sealed_seq(s) for s in services):
            await asyncio.sleep(0.05)
    finally:
        await forwarder.stop()
    print(msgspec.json.encode(forwarder.status()[0]).decode(), flush=True)
    store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), tuple(sys.argv[4:])))
