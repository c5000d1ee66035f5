"""Buffer benchmark: ingest (append + seal_due, compression and commit included) and drain
(read + ack) for realistic syslog and flow records, stored size, and gzip -6 side by side.

Prints one JSON document. Bounded in time (well under 60 s), works in a temp dir.
Usage: python bench/buffer.py [--records N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nocraven.buffer import BufferLimits, SegmentStore

BATCH = 200  # records per append, as a collector hands over a receive loop's worth
SEAL_PERIOD_S = 0.2  # how often the engine's worker calls seal_due
POOL = 100_000  # distinct records generated; ingest cycles through them
TIME_CAP_S = 12.0  # per phase
BACKLOG_BYTES = 16 * 1024 * 1024

HOSTS = [
    f"{kind}-{site}-{n:02d}"
    for kind in ("sw", "ap", "fw", "rtr")
    for site in ("north", "south", "press", "vip")
    for n in range(1, 13)
]
APPS = ["sshd", "kernel", "CRON", "dhcpd", "%LINK-3-UPDOWN", "%SEC-6-IPACCESSLOGP", "hostapd", "ntpd", "snmpd"]
USERS = ["admin", "noc", "tech1", "root", "backup", "guest"]


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def syslog_message(rng: random.Random) -> tuple[str, str, int]:
    """A message, its app name and severity, in the shapes venue gear actually sends."""
    choice = rng.randrange(6)
    port = f"Gi{rng.randint(1, 4)}/0/{rng.randint(1, 48)}"
    ip = f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if choice == 0:
        state = rng.choice(["up", "down"])
        return f"Interface {port}, changed state to {state}", "%LINK-3-UPDOWN", 3
    if choice == 1:
        return (
            f"denied tcp {ip}({rng.randint(1024, 65535)}) -> 172.16.{rng.randint(0, 9)}.{rng.randint(1, 254)}"
            f"({rng.choice([22, 80, 443, 3389])})",
            "%SEC-6-IPACCESSLOGP",
            6,
        )
    if choice == 2:
        verb = rng.choice(["Accepted publickey", "Failed password", "Accepted password"])
        return f"{verb} for {rng.choice(USERS)} from {ip}", "sshd", 6
    if choice == 3:
        mac = ":".join(f"{rng.randint(0, 255):02x}" for _ in range(6))
        return f"DHCPACK on {ip} to {mac} via vlan{rng.randint(100, 140)}", "dhcpd", 6
    if choice == 4:
        return f"STA {':'.join(f'{rng.randint(0, 255):02x}' for _ in range(6))} associated", "hostapd", 6
    return f"({rng.choice(USERS)}) CMD (/usr/lib/sa/sa1 1 1)", "CRON", 6


def make_syslog(rng: random.Random, count: int, start: float) -> list[bytes]:
    records = []
    for i in range(count):
        moment = start + i * 0.0004
        message, app, severity = syslog_message(rng)
        host = rng.choice(HOSTS)
        pri = 8 * 23 + severity
        record = {
            "service": "syslog",
            "received_at": rfc3339(moment),
            "source": f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:514",
            "facility": 23,
            "severity": severity,
            "timestamp": rfc3339(int(moment - rng.random())).replace(".000", ""),
            "hostname": host,
            "app_name": app,
            "procid": str(rng.randint(100, 32000)) if app in ("sshd", "dhcpd", "CRON") else None,
            "msgid": None,
            "structured_data": {},
            "message": message,
            "format": "rfc3164",
            "raw": f"<{pri}>{message}"[:48],  # the head of the original line
        }
        records.append(json.dumps(record, separators=(",", ":")).encode())
    return records


def make_flows(rng: random.Random, count: int, start: float) -> list[bytes]:
    records = []
    for i in range(count):
        moment = start + i * 0.0001
        proto = rng.choice([6, 6, 6, 17, 17, 1])
        packets = rng.randint(1, 5000)
        record = {
            "service": "flow",
            "received_at": rfc3339(moment),
            "source": "10.0.0.1:2055",
            "exporter": f"10.0.0.{rng.randint(1, 8)}",
            "version": 9,
            "src_addr": f"10.{rng.randint(20, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "dst_addr": f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "src_port": rng.randint(1024, 65535),
            "dst_port": rng.choice([443, 443, 443, 80, 53, 123, 5223, rng.randint(1, 65535)]),
            "protocol": proto,
            "bytes": packets * rng.randint(40, 1500),
            "packets": packets,
            "start": rfc3339(moment - rng.random() * 60),
            "end": rfc3339(moment),
            "input_if": rng.randint(1, 48),
            "output_if": rng.randint(1, 48),
            "tcp_flags": rng.choice([0x18, 0x1B, 0x02, 0x12, 0x11]) if proto == 6 else 0,
            "sampling_rate": 1,
        }
        records.append(json.dumps(record, separators=(",", ":")).encode())
    return records


def ingest_inline(store: SegmentStore, service: str, pool: list[bytes], total: int) -> dict[str, Any]:
    """One thread does everything: append, and seal_due after every ~2 MB as a worker keeping
    up would (about eight 256 KiB segments per commit)."""
    appended = 0
    position = 0
    since_seal = 0
    started = time.perf_counter()
    while appended < total and time.perf_counter() - started < TIME_CAP_S:
        if position + BATCH > len(pool):
            position = 0
        batch = pool[position : position + BATCH]
        store.append(service, batch, time.time())
        position += BATCH
        appended += BATCH
        since_seal += BATCH
        if since_seal * len(batch[0]) >= 2_000_000:
            store.seal_due(time.time())
            since_seal = 0
    store.seal_all(time.time())
    elapsed = time.perf_counter() - started
    return {"records": appended, "seconds": round(elapsed, 3), "records_per_s": round(appended / elapsed)}


def ingest_threaded(store: SegmentStore, service: str, pool: list[bytes], total: int) -> dict[str, Any]:
    """The engine's shape: a collector thread appends, a worker seals as soon as a segment is
    full and every 0.2 s otherwise (zstd releases the GIL, so compression overlaps the
    appends). The collector holds off while 16 MiB wait, as a TCP listener would stop reading:
    the figure is a sustained rate with nothing refused."""
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            store.wait_for_full_segment(SEAL_PERIOD_S)
            store.seal_due(time.time())

    appended = 0
    position = 0
    started = time.perf_counter()
    sealer = threading.Thread(target=worker)
    sealer.start()
    while appended < total and time.perf_counter() - started < TIME_CAP_S:
        if position + BATCH > len(pool):
            position = 0
        while store.unsealed_bytes > BACKLOG_BYTES:
            time.sleep(0.0005)
        store.append(service, pool[position : position + BATCH], time.time())
        position += BATCH
        appended += BATCH
    stop.set()
    sealer.join()
    store.seal_all(time.time())
    elapsed = time.perf_counter() - started
    return {"records": appended, "seconds": round(elapsed, 3), "records_per_s": round(appended / elapsed)}


def drain(store: SegmentStore, service: str) -> dict[str, Any]:
    drained = 0
    started = time.perf_counter()
    while time.perf_counter() - started < TIME_CAP_S:
        batch = store.read("bench", service, 10_000)
        if not batch.records:
            break
        drained += len(batch.records)
        store.ack("bench", service, batch.last_seq)
    elapsed = time.perf_counter() - started
    return {"records": drained, "seconds": round(elapsed, 3), "records_per_s": round(drained / elapsed)}


def codec_side_by_side(pool: list[bytes]) -> dict[str, Any]:
    """zstd-3 (what the buffer stores) against gzip -6, on the same 256 KiB NDJSON chunks."""
    data = b"\n".join(pool) + b"\n"
    chunks = [data[i : i + 256 * 1024] for i in range(0, min(len(data), 16 * 1024 * 1024), 256 * 1024)]
    raw = sum(len(c) for c in chunks)

    def measure(compress: Callable[[bytes], bytes], decompress: Callable[[bytes], bytes]) -> dict[str, Any]:
        started = time.perf_counter()
        packed = [compress(c) for c in chunks]
        packing = time.perf_counter() - started
        started = time.perf_counter()
        for blob in packed:
            decompress(blob)
        unpacking = time.perf_counter() - started
        stored = sum(len(p) for p in packed)
        return {
            "ratio": round(raw / stored, 2),
            "compress_mb_per_s": round(raw / packing / 1e6, 1),
            "decompress_mb_per_s": round(raw / unpacking / 1e6, 1),
        }

    compressor = zstandard.ZstdCompressor(level=3)
    decompressor = zstandard.ZstdDecompressor()
    return {
        "chunk_bytes": 256 * 1024,
        "raw_mb": round(raw / 1e6, 1),
        "zstd_3": measure(compressor.compress, decompressor.decompress),
        "gzip_6": measure(lambda c: gzip.compress(c, compresslevel=6, mtime=0), gzip.decompress),
    }


def run_service(service: str, pool: list[bytes], total: int, directory: Path) -> dict[str, Any]:
    limits = BufferLimits(total_bytes=8 * 1024**3, min_free_disk_bytes=0)
    results: dict[str, Any] = {"record_bytes_avg": round(sum(len(r) for r in pool) / len(pool), 1)}
    for mode, ingest in (("inline", ingest_inline), ("threaded", ingest_threaded)):
        store = SegmentStore.open(directory / f"{service}-{mode}", limits, time.time())
        try:
            results[f"ingest_{mode}"] = ingest(store, service, pool, total)
            stats = store.stats(time.time()).services[service]
            results[f"ingest_{mode}"]["dropped"] = stats.dropped_records
            results[f"ingest_{mode}"]["stored"] = stats.records
            results[f"ingest_{mode}"]["dropped_by_reason"] = {r: c.records for r, c in stats.dropped.items()}
            if mode == "inline":
                results["drain"] = drain(store, service)
                results.update(
                    segments=stats.segments,
                    records_per_segment=round(stats.records / stats.segments),
                    stored_bytes_per_record=round(stats.stored_bytes / stats.records, 2),
                    compression_ratio=round(stats.raw_bytes / stats.stored_bytes, 2),
                    raw_mb=round(stats.raw_bytes / 1e6, 1),
                    db_file_bytes=os.path.getsize(directory / f"{service}-{mode}" / "buffer.db"),
                )
        finally:
            store.close()
    results["codecs"] = codec_side_by_side(pool)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_500_000, help="records ingested per service and mode")
    args = parser.parse_args()
    rng = random.Random(7)
    now = time.time()
    syslog_pool = make_syslog(rng, POOL, now)
    flow_pool = make_flows(rng, POOL, now)
    with tempfile.TemporaryDirectory(prefix="nocraven-bench-buffer-") as tmp:
        syslog = run_service("syslog", syslog_pool, args.records, Path(tmp))
        flow = run_service("flow", flow_pool, args.records, Path(tmp))
    result = {
        "benchmark": "buffer",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "zstd_level": 3},
        "settings": {
            "append_batch": BATCH,
            "seal_period_s": SEAL_PERIOD_S,
            "seal_bytes": 256 * 1024,
            "synchronous": "FULL",
            "load_average_at_start": os.getloadavg()[0],
        },
        "syslog": syslog,
        "flow": flow,
        "targets": {
            "ingest_syslog_records_per_s": 500_000,
            "drain_records_per_s": 1_000_000,
            "syslog_stored_fraction_max": 0.125,
        },
        "met": {
            "ingest_inline": syslog["ingest_inline"]["records_per_s"] >= 500_000,
            "ingest_threaded": syslog["ingest_threaded"]["records_per_s"] >= 500_000,
            "drain": syslog["drain"]["records_per_s"] >= 1_000_000,
            "stored_fraction": 1 / syslog["compression_ratio"] <= 0.125,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
