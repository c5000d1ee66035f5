"""CPU microseconds per syslog message, stage by stage, in one process (no sockets).

The end-to-end benchmark (`bench/syslog.py`) says how fast the whole path is; this one says
where its CPU goes, measured with process CPU time (`time.process_time`), which a busy,
shared machine disturbs far less than a rate. Stages, in the order a UDP message meets them:

- parse_encode: `fastpath.parse_encode_batch`, what a worker process (UDP, or TCP/TLS stream)
  runs: the compiled fast path where it applies, `parse.py` + msgspec for the rest
- parse, encode: the pure-Python reference (`parse_batch`, then msgspec `encode_lines`), which
  the workers run when the extension is not built; reported for comparison
- count: the pipeline's per-source and per-listener counting (`Stats.received`)
- channel: frames written, read and decoded on both hops (worker -> collector -> engine),
  through pipes, with the collector's coalescing in between
- append: the engine's `SegmentStore.append_ndjson`
- seal: segment encoding (zstd, the service's dictionary trained) and the SQLite commit
  (`seal_all`)

The messages are the generator's (`bench/loadgen.c`): RFC 3164 and RFC 5424 alternate.
Prints one JSON document: {stage: us_per_message}. Bounded: a few seconds of CPU.
Usage: python bench/syslog_stages.py [--messages N] [--repeat R]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from collectors.common.channel import FrameDecoder, FrameKind  # noqa: E402
from collectors.common.harness import Output, tune_gc, tune_malloc  # noqa: E402
from collectors.common.workers import BATCH_NUMBER, READ_BYTES  # noqa: E402

RECEIVED_IN_FRAMES = "received" in inspect.signature(Output.ndjson).parameters  # since the RECEIVED frame
from collectors.syslog.parse import parse_batch  # noqa: E402

try:
    from collectors.syslog.fastpath import FAST_PATH, parse_encode_batch
except ImportError:  # older trees: no fast path
    FAST_PATH, parse_encode_batch = False, None
from collectors.syslog.pipeline import Stats  # noqa: E402
from nocraven.buffer.limits import BufferLimits  # noqa: E402
from nocraven.buffer.store import SegmentStore  # noqa: E402

BATCH = 512  # a UDP worker's batch
HOSTS = ("core-sw1", "edge-fw2", "ap-lobby-3", "idf3-sw1", "wlc-venue", "pos-gw")
APPS = ("sshd", "ifmgr", "hostapd", "kernel", "dhcpd", "snmpd")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FLUSH_BYTES = 256 * 1024  # the collector's coalescing (collectors.syslog.service)


def messages(count: int, now: float) -> list[bytes]:
    """The generator's mix (bench/loadgen.c make_message)."""
    tm = time.gmtime(now)
    out = []
    for i in range(count):
        if i % 2 == 0:
            text = (
                f"<{(i % 24) * 8 + 6}>{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:"
                f"{tm.tm_sec:02d} {HOSTS[i % 6]} {APPS[i % 6]}[{1000 + i % 5000}]: Accepted publickey for admin "
                f"from 10.1.{(i // 7) % 250}.{i % 250} port {40000 + i % 20000} ssh2 seq={i}"
            )
        else:
            text = (
                f"<{(i % 24) * 8 + 5}>1 {tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:"
                f"{tm.tm_min:02d}:{tm.tm_sec:02d}.{i % 1000:03d}Z {HOSTS[i % 6]} {APPS[(i + 1) % 6]} "
                f'{2000 + i % 3000} ID{i % 50} [meta sequenceId="{i}"] Interface Gi1/0/{i % 48} changed state '
                f"to up seq={i}"
            )
        out.append(text.encode())
    return out


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def one_round(msgs: list[bytes], now: float, directory: Path) -> dict[str, float]:
    batches = [msgs[i : i + BATCH] for i in range(0, len(msgs), BATCH)]
    senders = [f"127.0.0.1:{40000 + i % 4}" for i in range(BATCH)]
    stats = Stats()
    encode_lines = msgspec.json.Encoder().encode_lines
    seconds: dict[str, float] = {}

    spent, records = cpu(lambda: [parse_batch(zip(b, repeat(now), senders, strict=False)) for b in batches])
    seconds["parse"] = spent

    def count() -> None:
        for batch, recs in zip(batches, records, strict=True):
            stats.received("udp", senders[: len(batch)], [r["format"] for r in recs], list(map(len, batch)), now)

    seconds["count"] = cpu(count)[0]
    spent, chunks = cpu(lambda: [encode_lines(recs) for recs in records])
    seconds["encode"] = spent
    if parse_encode_batch is not None:
        spent, fast = cpu(lambda: [parse_encode_batch(b, senders[: len(b)], now)[0] for b in batches])
        seconds["parse_encode"] = spent
        assert fast == chunks, "the fast path and the reference disagree"

    def channel() -> list[bytes]:
        # Both hops as the processes do them, through real pipes (threads stand in for the
        # processes; process_time counts them all): a worker writes a numbered RECORDS frame
        # per batch, the collector reads, coalesces and writes to the engine, which reads.
        worker_r, worker_w = os.pipe()
        engine_r, engine_w = os.pipe()
        payloads: list[bytes] = []

        def collector() -> None:
            decoder, pending, out = FrameDecoder(), bytearray(), Output(engine_w)
            head = 2 * BATCH_NUMBER.size if RECEIVED_IN_FRAMES else BATCH_NUMBER.size
            received = 0
            while data := os.read(worker_r, READ_BYTES):
                for _kind, payload in decoder.feed(data):
                    pending += memoryview(payload)[head:]
                    if RECEIVED_IN_FRAMES:
                        received += BATCH_NUMBER.unpack_from(payload, BATCH_NUMBER.size)[0]
                    if len(pending) >= FLUSH_BYTES:
                        out.ndjson(pending, received) if RECEIVED_IN_FRAMES else out.ndjson(pending)
                        pending.clear()
                        received = 0
            out.ndjson(pending, received) if RECEIVED_IN_FRAMES else out.ndjson(pending)
            os.close(engine_w)

        def engine() -> None:
            decoder = FrameDecoder()
            while data := os.read(engine_r, READ_BYTES):
                payloads.extend(payload for kind, payload in decoder.feed(data) if kind == FrameKind.RECORDS)

        threads = [threading.Thread(target=collector), threading.Thread(target=engine)]
        for thread in threads:
            thread.start()
        out = Output(worker_w)
        gathered = len(inspect.signature(out.write).parameters) > 2  # older trees: one payload
        for number, chunk in enumerate(chunks):
            if RECEIVED_IN_FRAMES:
                prefix = BATCH_NUMBER.pack(number) + BATCH_NUMBER.pack(sum(map(len, batches[number])))
                out.write(FrameKind.RECORDS, prefix, chunk)
            elif gathered:
                out.write(FrameKind.RECORDS, BATCH_NUMBER.pack(number), chunk)
            else:
                out.write(FrameKind.RECORDS, BATCH_NUMBER.pack(number) + chunk)
        os.close(worker_w)
        for thread in threads:
            thread.join()
        os.close(worker_r)
        os.close(engine_r)
        return payloads

    spent, payloads = cpu(channel)
    seconds["channel"] = spent
    limits = BufferLimits(total_bytes=8 << 30, seal_interval_s=3600.0, max_unsealed_bytes=1 << 30)
    with SegmentStore.open(directory, limits, now) as store:
        # A service's first dictionary is trained on its first MiB of records, then once per
        # ~256 MiB: primed here, or that one training would be most of a short round's seal.
        for payload in payloads[: max(1, len(payloads) // 4)]:
            store.append_ndjson("syslog", payload, now)
        store.seal_all(now)
        seconds["append"] = cpu(lambda: [store.append_ndjson("syslog", p, now) for p in payloads])[0]
        seconds["seal"] = cpu(lambda: store.seal_all(now))[0]
        stored = store.stats(now)
    assert sum(1 for _ in payloads) > 0 and stored is not None
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    args = parser.parse_args()
    tune_malloc()  # as every collector process does
    tune_gc()
    now = time.time()
    msgs = messages(args.messages, now)
    rounds = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="nocraven-stages-") as tmp:
            rounds.append(one_round(msgs, now, Path(tmp) / f"r{index}"))
    us = {stage: round(statistics.median(r[stage] for r in rounds) * 1e6 / len(msgs), 3) for stage in rounds[0]}
    reference_worker = us["parse"] + us["count"] + us["encode"]
    worker = us["parse_encode"] + us["count"] if "parse_encode" in us else reference_worker
    # The stages a message really goes through (parse and encode are the reference's, not run
    # by the workers when the fast path is built).
    path = [stage for stage in us if stage not in (("parse", "encode") if "parse_encode" in us else ())]
    report = {
        "bench": "syslog_stages",
        "messages": len(msgs),
        "rounds": len(rounds),
        "fast_path": FAST_PATH,
        "cpu_us_per_message": us,
        "cpu_us_per_message_worker": round(worker, 3),
        "cpu_us_per_message_worker_pure_python": round(reference_worker, 3),
        "cpu_us_per_message_collector_and_engine": round(us["channel"] + us["append"] + us["seal"], 3),
        "cpu_us_per_message_total": round(sum(us[stage] for stage in path), 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
