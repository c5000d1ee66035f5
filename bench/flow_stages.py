"""CPU microseconds per flow record, stage by stage, in one process (no sockets).

The end-to-end benchmark (`bench/flow.py`) says how fast the whole path is; this one says where
its CPU goes, measured with process CPU time (`time.process_time`), which a busy, shared
machine disturbs far less than a rate. Stages, in the order a datagram meets them:

- decode: `FlowDecoder.decode_batch` over a UDP worker's batch (512 datagrams): headers,
  templates, the records and their NDJSON (what a worker does per batch)
- channel: RECORDS frames written, read and decoded on both hops (worker -> collector ->
  engine) through pipes, with the collector's coalescing in between
- append: the engine's `SegmentStore.append_ndjson`
- seal: segment encoding (zstd) and the SQLite commit (`seal_all`)

The datagrams are those of `bench/flow_decode.py` (v5 with 30 records, v9 / IPFIX with a
softflowd-like template, sFlow with 8 flow samples). Prints one JSON document:
{version: {stage: us_per_record}}. Bounded: a few seconds of CPU.
Usage: python bench/flow_stages.py [--records N] [--repeat R] [--kinds v5,v9,ipfix,sflow]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.flow_decode import EXPORTER, datagrams  # noqa: E402
from collectors.common.channel import FrameDecoder, FrameKind  # noqa: E402
from collectors.common.harness import Output, tune_gc, tune_malloc  # noqa: E402
from collectors.common.workers import READ_BYTES, batch_prefix  # noqa: E402
from collectors.flow.decoder import FlowDecoder  # noqa: E402
from nocraven.buffer.limits import BufferLimits  # noqa: E402
from nocraven.buffer.store import SegmentStore  # noqa: E402

BATCH = 512  # a UDP worker's batch (collectors.flow.udp_worker)
FLUSH_BYTES = 256 * 1024  # the collector's coalescing (collectors.flow.service)
KINDS = ("v5", "v9", "ipfix", "sflow")


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def channel(chunks: list[bytes]) -> list[bytes]:
    """Both hops as the processes do them, through real pipes (threads stand in for the
    processes; process_time counts them all)."""
    worker_r, worker_w = os.pipe()
    engine_r, engine_w = os.pipe()
    payloads: list[bytes] = []

    def collector() -> None:
        decoder, pending, out = FrameDecoder(), bytearray(), Output(engine_w)
        while data := os.read(worker_r, READ_BYTES):
            for _kind, payload in decoder.feed(data):
                pending += memoryview(payload)[16:]
                if len(pending) >= FLUSH_BYTES:
                    out.ndjson(pending)
                    pending.clear()
        out.ndjson(pending)
        os.close(engine_w)

    def engine() -> None:
        decoder = FrameDecoder()
        while data := os.read(engine_r, READ_BYTES):
            payloads.extend(payload for kind, payload in decoder.feed(data) if kind == FrameKind.RECORDS)

    threads = [threading.Thread(target=collector), threading.Thread(target=engine)]
    for thread in threads:
        thread.start()
    out = Output(worker_w)
    for number, chunk in enumerate(chunks):
        out.write(FrameKind.RECORDS, batch_prefix(number, 0), chunk)
    os.close(worker_w)
    for thread in threads:
        thread.join()
    os.close(worker_r)
    os.close(engine_r)
    return payloads


def one_round(kind: str, records_wanted: int, directory: Path) -> tuple[int, dict[str, float]]:
    template, data = datagrams(kind, 200)
    decoder = FlowDecoder()
    now = time.time()
    if template is not None:
        decoder.decode(template, EXPORTER, now)
    per_datagram = len(decoder.decode(data[0], EXPORTER, now))
    count = max(1, records_wanted // per_datagram)
    pool = [data[i % len(data)] for i in range(count)]
    batches = [pool[i : i + BATCH] for i in range(0, len(pool), BATCH)]
    senders = [f"{EXPORTER[0]}:{EXPORTER[1]}"] * BATCH
    seconds: dict[str, float] = {}
    spent, chunks = cpu(lambda: [decoder.decode_batch(b, senders[: len(b)], now) for b in batches])
    seconds["decode"] = spent
    records = sum(chunk.count(b"\n") for chunk in chunks)
    spent, payloads = cpu(lambda: channel(chunks))
    seconds["channel"] = spent
    limits = BufferLimits(total_bytes=8 << 30, seal_interval_s=3600.0, max_unsealed_bytes=1 << 30)
    with SegmentStore.open(directory, limits, now) as store:
        seconds["append"] = cpu(lambda: [store.append_ndjson("flow", p, now) for p in payloads])[0]
        seconds["seal"] = cpu(lambda: store.seal_all(now))[0]
    return records, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    tune_malloc()  # as every collector process does
    tune_gc()
    result: dict[str, Any] = {}
    for kind in (k for k in args.kinds.split(",") if k in KINDS):
        rounds = []
        for index in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="nocraven-flow-stages-") as tmp:
                rounds.append(one_round(kind, args.records, Path(tmp) / f"r{index}"))
        records = rounds[0][0]
        us = {stage: round(statistics.median(r[1][stage] for r in rounds) * 1e6 / records, 3) for stage in rounds[0][1]}
        result[kind] = us | {"total": round(sum(us.values()), 3), "records": records}
    print(json.dumps({"bench": "flow_stages", "rounds": args.repeat, "cpu_us_per_record": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
