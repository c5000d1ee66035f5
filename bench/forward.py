"""Forwarder benchmark: drain a large backlog from the buffer to NATS JetStream on loopback,
beside the ceiling measured in the same run (nats-py publishing the same batches, already built,
with the same number in flight and no forwarder), and the latency of live records sealed and
forwarded during the drain (p50/p99, from append to arrival at a NATS subscriber).

Prints one JSON document. Needs Debian's nats-server. Works in a temp dir.
Usage: python bench/forward.py [--records N] [--in-flight K] [--max-seconds S] [--ceiling-records M]

Bounded in time and memory whatever N: filling stops at a third of --max-seconds (the figures
then say how many records were filled), the ceiling publishes at most --ceiling-records records
(built in memory) and stops at its share of the budget, and the drain stops at what remains.
Rates are over the records actually moved, and `completed` says whether each phase finished.
The issue's case: `--records 2000000 --max-seconds 300` (about 2 minutes of fill on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nats  # noqa: E402
from buffer import make_flows, make_venue  # type: ignore[import-not-found]  # noqa: E402
from nats.js.api import StorageType, StreamConfig  # noqa: E402

from nocraven.buffer import BufferLimits, SegmentStore  # noqa: E402
from nocraven.forward.batching import Encoder, decode_payload, make_batch, plan, split_by_bytes  # noqa: E402
from nocraven.forward.forwarder import Forwarder  # noqa: E402
from nocraven.forward.settings import ForwardSettings, SinkSettings  # noqa: E402

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
POOL = 50_000
LIVE_PERIOD_S = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_nats(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nats-server did not start")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pools_for(total: int) -> dict[str, list[bytes]]:
    """Distinct records cycled through by the fill: up to POOL per service, a twentieth of the
    run for small runs (making them costs about as much as storing them)."""
    rng = random.Random(1)
    now = time.time()
    size = max(1000, min(POOL, total // 20))
    return {"syslog": make_venue(size, now)[0], "flow": make_flows(rng, size, now)}


def fill(store: SegmentStore, total: int, pools: dict[str, list[bytes]], deadline: float) -> dict[str, int]:
    """60 % syslog, 40 % flow, interleaved by 1,000; stops early at `deadline` (perf_counter)."""
    now = time.time()
    wanted = {"syslog": total * 6 // 10, "flow": total - total * 6 // 10}
    counts = {service: 0 for service in wanted}
    while any(counts[s] < wanted[s] for s in wanted) and time.perf_counter() < deadline:
        for service, pool in pools.items():
            take = min(1000, wanted[service] - counts[service])
            if take <= 0:
                continue
            start = counts[service]
            store.append(service, [pool[(start + i) % len(pool)] for i in range(take)], now)
            counts[service] += take
        store.seal_due(now)
    store.seal_all(now)
    return counts


def built_batches(
    store: SegmentStore, settings: SinkSettings, site: str, limit: int
) -> list[tuple[str, bytes, dict[str, str], int]]:
    """The forwarder's batches, fully built (read, split, compressed), for the ceiling run: the
    oldest of each service in the backlog's proportions, about `limit` records in all."""
    encoder = Encoder(settings.encoding)
    built = []
    total = sum(store.sealed_seq(service) for service in ("syslog", "flow")) or 1
    for service in ("syslog", "flow"):
        sealed = store.sealed_seq(service)
        share = limit * sealed // total
        planned = plan(0, store.segments_after(service, 0, 1 << 20), sealed, settings.batch_records, True)
        taken = 0
        for seqs in planned.batches:
            if taken >= share:
                break
            taken += seqs.records
            read = store.read("ceiling", service, seqs.records, seqs.first - 1)
            for first, records in split_by_bytes(read.records, seqs.first, settings.max_batch_bytes):
                batch = make_batch(site, service, first, records)
                headers = {**encoder.headers(batch), "Nats-Msg-Id": batch.message_id}
                built.append((f"ceiling.{site}.{service}", encoder.payload(batch), headers, len(records)))
    return built


async def ceiling(
    url: str, batches: list[tuple[str, bytes, dict[str, str], int]], in_flight: int, budget_s: float
) -> dict[str, Any]:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await js.add_stream(
        StreamConfig(name="CEILING", subjects=["ceiling.>"], storage=StorageType.FILE, duplicate_window=86400)
    )
    queue = list(reversed(batches))
    published = {"records": 0, "messages": 0}
    started = time.perf_counter()
    deadline = started + budget_s

    async def worker() -> None:
        while queue and time.perf_counter() < deadline:
            subject, payload, headers, records = queue.pop()
            await js.publish(subject, payload, headers=dict(headers))
            published["records"] += records
            published["messages"] += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    await nc.close()
    return {
        "records_per_s": round(published["records"] / elapsed) if elapsed > 0 else 0,
        "records": published["records"],
        "seconds": round(elapsed, 3),
        "messages": published["messages"],
        "completed": not queue,
    }


async def drain(
    store: SegmentStore,
    url: str,
    settings: ForwardSettings,
    counts: dict[str, int],
    budget_s: float,
    server_pid: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    live_sent = 0
    boundary = store.sealed_seq("syslog")
    nc = await nats.connect(url)
    dictionaries: dict[str, bytes] = {}  # "zstd-dict": sent before the first batch naming each

    async def on_dictionary(msg: Any) -> None:
        dictionaries[msg.headers["Nocraven-Dictionary"]] = msg.data

    async def on_message(msg: Any) -> None:
        if int(msg.headers["Nocraven-First-Seq"]) <= boundary:
            return  # backlog: not decoded, the subscriber only times live records
        arrived = time.time()
        key = msg.headers.get("Nocraven-Dictionary")
        encoding = msg.headers.get("Content-Encoding")
        records = decode_payload(msg.data, encoding, dictionaries[key]) if key else decode_payload(msg.data, encoding)
        for line in records:
            if b'"live_at"' in line:
                latencies.append(arrived - msgspec.json.decode(line)["live_at"])

    await nc.subscribe("nocraven.bench.dictionary", cb=on_dictionary)
    await nc.subscribe("nocraven.bench.syslog", cb=on_message)
    stop_sealing = threading.Event()

    def seal_worker() -> None:  # the engine's seal loop
        while not stop_sealing.is_set():
            store.wait_for_full_segment(0.2)
            store.seal_due(time.time())

    sealer = threading.Thread(target=seal_worker, daemon=True)
    sealer.start()
    forwarder = Forwarder(store, settings, ("syslog", "flow"))
    # CPU, not only wall time: the machine may be shared, and CPU per record is what a change
    # to the forwarder moves (this process: forwarder, sealer, subscriber; and nats-server).
    cpu_started, server_cpu_started = time.process_time(), process_cpu_s(server_pid)
    started = time.perf_counter()
    forwarder.start()
    deadline = started + budget_s
    drained_at: float | None = None
    cpu_drained: tuple[float, float] | None = None
    try:
        while time.perf_counter() < deadline:
            moment = time.time()
            record = {"service": "syslog", "received_at": "live", "live_at": moment, "message": "live"}
            store.append("syslog", [msgspec.json.encode(record)], moment)
            live_sent += 1
            await asyncio.sleep(LIVE_PERIOD_S)
            done = all(store.cursor("noc", service) >= counts[service] for service in counts)
            if done and drained_at is None:
                drained_at = time.perf_counter()
                cpu_drained = (time.process_time(), process_cpu_s(server_pid))
            if drained_at is not None and time.perf_counter() - drained_at > 2.5:
                break  # the last live records of the drain have had time to arrive
    finally:
        await forwarder.stop()
        stop_sealing.set()
        sealer.join(5)
        await nc.close()
    ended = drained_at or time.perf_counter()
    cpu_ended, server_cpu_ended = cpu_drained or (time.process_time(), process_cpu_s(server_pid))
    cpu_s, server_cpu_s = cpu_ended - cpu_started, server_cpu_ended - server_cpu_started
    elapsed = ended - started
    # Over what actually left (the cursors), not what was asked, when the budget cut the drain.
    moved = sum(min(store.cursor("noc", service), counts[service]) for service in counts)
    latencies.sort()
    return {
        "records_per_s": round(moved / elapsed) if elapsed > 0 else 0,
        "records": moved,
        "seconds": round(elapsed, 3),
        "completed": drained_at is not None,
        "cpu_seconds_engine": round(cpu_s, 3),
        "cpu_seconds_nats_server": round(server_cpu_s, 3),
        "cpu_us_per_record_engine": round(cpu_s * 1e6 / moved, 2) if moved else None,
        "live_records_sent": live_sent,
        "live_records_timed": len(latencies),
        "live_latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "live_latency_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3) if latencies else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="budget for the whole run")
    parser.add_argument(
        "--compression", default="", help="the sink's compression: '' (zstd), 'zstd-dict' (stored blobs), 'none'"
    )
    parser.add_argument("--ceiling-records", type=int, default=500_000, help="records published by the ceiling")
    args = parser.parse_args()
    run_started = time.perf_counter()
    budget = args.max_seconds
    with tempfile.TemporaryDirectory(prefix="nocraven-bench-forward-") as tmp:
        directory = Path(tmp)
        store = SegmentStore.open(directory / "buffer", BufferLimits(total_bytes=8 * 1024**3), time.time())
        pools = pools_for(args.records)
        started = time.perf_counter()
        counts = fill(store, args.records, pools, started + budget / 3)
        filled = sum(counts.values())
        fill_s = time.perf_counter() - started
        raw = store.stats(time.time()).raw_bytes
        proc, url = start_nats(directory / "nats")
        try:
            sink = SinkSettings(
                name="noc", type="nats", urls=[url], in_flight=args.in_flight, compression=args.compression
            )
            settings = ForwardSettings(site="bench", sinks=[sink])
            build_started = time.perf_counter()
            batches = built_batches(store, sink, "bench", min(args.ceiling_records, filled))
            build_s = time.perf_counter() - build_started
            built_records = sum(b[3] for b in batches)
            left = budget - (time.perf_counter() - run_started)
            ceiling_result = await ceiling(url, batches, args.in_flight, max(left / 3, 1.0))
            del batches
            # The same work done serially without the forwarder: read, cut, compress, then publish.
            ceiling_result["build_seconds"] = round(build_s, 3)
            serial_s = build_s * ceiling_result["records"] / max(built_records, 1) + ceiling_result["seconds"]
            ceiling_result["serial_records_per_s"] = round(ceiling_result["records"] / serial_s) if serial_s else 0
            left = budget - (time.perf_counter() - run_started)
            drain_result = await drain(store, url, settings, counts, max(left - 5.0, 5.0), proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
        store.close()
    drain_rps, p99 = drain_result["records_per_s"], drain_result["live_latency_p99_s"]
    result = {
        "benchmark": "forward",
        "records_requested": args.records,
        "records": filled,
        "cpus": os.cpu_count(),
        "max_seconds": budget,
        "total_seconds": round(time.perf_counter() - run_started, 2),
        "backlog_raw_bytes": raw,
        "fill_seconds": round(fill_s, 2),
        "fill_complete": filled == args.records,
        "distinct_records_per_service": len(pools["syslog"]),
        "batch_records": sink.batch_records,
        "in_flight": args.in_flight,
        "compression": sink.encoding,
        "ceiling_nats_py": ceiling_result,
        "forwarder": drain_result,
        "drain_vs_ceiling": round(drain_rps / ceiling_result["records_per_s"], 3)
        if ceiling_result["records_per_s"]
        else None,
        "targets": {"drain_records_per_s": 200_000, "live_p99_s": 2.0},
        "met": {
            "drain_records_per_s": drain_rps >= 200_000,
            "live_p99_s": p99 is not None and p99 < 2.0,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
