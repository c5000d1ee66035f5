"""CPU microseconds per record in the engine process, for the path every collector shares.

A feeder child process (this module run with --feed, spawned by the real `CollectorProcess`
as a collector would be) writes RECEIVED + RECORDS frames of real records as fast as the pipe
takes them; the engine side is the real one: `CollectorProcess._pump` (pipe reads, frame
decoding, the live sample), `BufferAccess.append_ndjson`, and the buffer's seal worker thread
(zstd with the service's dictionary, the SQLite commit). The parent's process CPU time (all
its threads) over the records stored is the engine's cost per record; the feeder's CPU is not
in it. The unsealed limit is raised so a seal worker behind the feeder stores late rather than
drops (the drop path costs less and would flatter the figure).

Records: `flow` (sFlow or v9 records from `bench/flow_decode.py` through the flow decoder, as the
flow collector sends them) or `syslog` (the generator's messages through the syslog parser).
`--chunk` is the NDJSON bytes per RECORDS frame (the collectors flush at 256 KiB, and send more
per frame when a worker's batch is larger). Prints one JSON document. Bounded: --records.
Usage: python bench/engine_ingest.py [--kind sflow|v9|syslog] [--records N] [--chunk BYTES] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.common.harness import Output  # noqa: E402

FEED_ENV = "NOCRAVEN_BENCH_FEED"  # "kind,records,chunk" for the feeder child


def ndjson_pool(kind: str) -> bytes:
    """Distinct records of `kind`, NDJSON, each line ending in a newline."""
    now = time.time()
    if kind == "syslog":
        import msgspec

        from bench.syslog_stages import messages
        from collectors.syslog.parse import parse_batch

        msgs = messages(4000, now)
        records = parse_batch([(m, now, f"127.0.0.1:{40000 + i % 4}") for i, m in enumerate(msgs)])
        return msgspec.json.Encoder().encode_lines(records)
    from bench.flow_decode import EXPORTER, datagrams
    from collectors.flow.decoder import FlowDecoder

    template, data = datagrams(kind, 400)
    decoder = FlowDecoder()
    if template is not None:
        decoder.decode(template, EXPORTER, now)
    sender = f"{EXPORTER[0]}:{EXPORTER[1]}"
    batches = [data[i : i + 50] for i in range(0, len(data), 50)]
    return b"".join(decoder.decode_batch(batch, [sender] * len(batch), now) for batch in batches)


def feed(kind: str, records: int, chunk_bytes: int) -> None:
    """The child: frames of `chunk_bytes` of NDJSON until `records` records are written."""
    pool = ndjson_pool(kind)
    while len(pool) < 2 * chunk_bytes:
        pool += pool
    out = Output(sys.stdout.fileno())
    sent = start = 0
    while sent < records:
        end = pool.find(b"\n", start + chunk_bytes - 1)
        if end < 0:
            start = 0
            continue
        chunk = pool[start : end + 1]
        lines = chunk.count(b"\n")
        if sent + lines > records:  # the last frame: only the records still due
            chunk = b"".join(line + b"\n" for line in chunk.split(b"\n")[: records - sent])
            lines = records - sent
        out.ndjson(chunk, received=len(chunk) // 4)
        sent += lines
        start = end + 1


def one_round(kind: str, records: int, chunk_bytes: int, directory: Path) -> dict[str, float]:
    from collectors.common.frames import Counters
    from nocraven.buffer.access import BufferAccess
    from nocraven.buffer.component import BufferComponent
    from nocraven.buffer.limits import BufferLimits
    from nocraven.buffer.store import SegmentStore
    from nocraven.config import Config
    from nocraven.engine.bus import EventBus
    from nocraven.engine.component import EngineContext
    from nocraven.ingest.collector import CollectorExited, CollectorProcess

    class Feeder(CollectorProcess):
        name = "feeder"
        module = "bench.engine_ingest"
        service = "flow" if kind != "syslog" else "syslog"
        counters_type = Counters

        def child_settings(self) -> object:
            return {}

    os.environ[FEED_ENV] = f"{kind},{records},{chunk_bytes}"
    os.environ["PYTHONPATH"] = str(ROOT)
    store = SegmentStore.open(directory, BufferLimits(total_bytes=8 << 30, max_unsealed_bytes=1 << 30), time.time())
    access = BufferAccess()
    access.attach(store)
    ctx = EngineContext(config=Config(), bus=EventBus(), buffer=access)
    stop = threading.Event()
    sealer_cpu = [0.0]

    def seal_worker() -> None:
        start = time.thread_time()
        BufferComponent._seal_worker(store, stop)
        sealer_cpu[0] = time.thread_time() - start

    async def run() -> None:
        with __import__("contextlib").suppress(CollectorExited):
            await Feeder(ctx).run(lambda: None)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    sealer = threading.Thread(target=seal_worker)
    sealer.start()
    asyncio.run(run())
    stop.set()
    sealer.join()
    store.seal_all(time.time())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stored = store.stats(time.time()).records
    store.close()
    if stored != records:
        raise SystemExit(f"stored {stored} records of {records}")
    return {
        "cpu_us_per_record": cpu * 1e6 / records,
        "sealer_cpu_us_per_record": sealer_cpu[0] * 1e6 / records,
        "records_per_s": records / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="sflow", choices=("sflow", "v9", "ipfix", "syslog"))
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--chunk", type=int, default=256 * 1024)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    args = parser.parse_args()
    rounds = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="nocraven-engine-ingest-") as tmp:
            rounds.append(one_round(args.kind, args.records, args.chunk, Path(tmp) / f"r{index}"))
    result: dict[str, Any] = {
        "bench": "engine_ingest",
        "kind": args.kind,
        "records": args.records,
        "chunk_bytes": args.chunk,
        "rounds": args.repeat,
    }
    for key in rounds[0]:
        result[key] = round(statistics.median(r[key] for r in rounds), 3 if "cpu" in key else 0)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    if FEED_ENV in os.environ and __name__ == "__main__" and len(sys.argv) == 1:
        kind, count, chunk = os.environ[FEED_ENV].split(",")
        feed(kind, int(count), int(chunk))
        sys.exit(0)
    sys.exit(main())
