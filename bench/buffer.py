"""Buffer benchmark: ingest (append + seal_due, compression and commit included) and drain
(read + ack) for realistic syslog and flow records, stored size, and gzip -6 side by side.

Stored size is measured on a varied venue mix (nocraven/simulate/venue_mix.py: Cisco IOS,
Junos, FortiGate, Palo Alto, Meraki, UniFi, Linux, Snare) run through the real syslog parser
and encoder, so "received" is the datagrams' bytes and "records" what the buffer is handed;
`storage.cold_format3_packed` is the same mix once the seal worker has repacked the cold
segments (format 3: datagrams kept, fields rebuilt on read), which is what the buffer holds
for weeks; `storage.candidates` compares the stored forms that were tried on the same segments.

Prints one JSON document. Bounded in time (well under 60 s), works in a temp dir.
Usage: python bench/buffer.py [--records N] [--mix N]
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

import msgspec
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.syslog.parse import parse_batch
from nocraven.buffer import BufferLimits, SegmentStore
from nocraven.buffer.dictionaries import DICT_BYTES, SAMPLE_BYTES
from nocraven.simulate.venue_mix import venue_mix

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


def make_venue(count: int, start: float) -> tuple[list[bytes], list[bytes]]:
    """Records as the syslog collector hands them to the buffer, and the datagrams they came from."""
    items = list(venue_mix(7, count, start))
    encode = msgspec.json.Encoder().encode
    return [encode(record) for record in parse_batch(items)], [data for data, _, _ in items]


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


def segments_of(records: list[bytes], size: int = 256 * 1024) -> list[list[bytes]]:
    """Cut as the store cuts: a segment seals once its records reach `size` bytes."""
    out: list[list[bytes]] = [[]]
    filled = 0
    for record in records:
        out[-1].append(record)
        filled += len(record) + 1
        if filled >= size:
            out.append([])
            filled = 0
    return [segment for segment in out if segment]


def storage(
    records: list[bytes], sizes: list[int], directory: Path, dictionaries: bool, packed: bool = False
) -> dict[str, Any]:
    """One pass of the venue mix through a store: received, record and stored bytes, and the
    seal (compress + commit) and read (fetch + decompress + split) cost per record. With
    `packed`, every segment is then repacked as the seal worker does once it is cold (format
    3), and the read is of the packed segments (the parse again included)."""
    from nocraven.buffer import dictionaries as book

    saved = book.SAMPLE_BYTES
    if not dictionaries:
        book.SAMPLE_BYTES = 1 << 62  # never gathers enough to train: format 1, as on main
    limits = BufferLimits(total_bytes=8 * 1024**3, min_free_disk_bytes=0)
    name = "packed" if packed else "dict" if dictionaries else "plain"
    store = SegmentStore.open(directory / f"storage-{name}", limits, time.time())
    sealing = sealing_cpu = 0.0
    try:
        since_seal = 0
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            store.append("syslog", batch, time.time(), received_bytes=sum(sizes[start : start + BATCH]))
            since_seal += sum(map(len, batch))
            if since_seal >= 2_000_000:
                began, began_cpu = time.perf_counter(), time.process_time()
                store.seal_due(time.time())
                sealing += time.perf_counter() - began
                sealing_cpu += time.process_time() - began_cpu
                since_seal = 0
        began, began_cpu = time.perf_counter(), time.process_time()
        store.seal_all(time.time())
        sealing += time.perf_counter() - began
        sealing_cpu += time.process_time() - began_cpu
        repack_cpu = 0.0
        if packed:
            began_cpu = time.process_time()
            cold = time.time() + 3600
            while store.compact_cold(cold) is not None:
                pass
            repack_cpu = time.process_time() - began_cpu
        stats = store.stats(time.time()).services["syslog"]
        began, began_cpu = time.perf_counter(), time.process_time()
        read = []
        while True:
            batch = store.read("bench", "syslog", 10_000, after_seq=len(read))
            if not batch.records:
                break
            read.extend(batch.records)
        reading = time.perf_counter() - began
        reading_cpu = time.process_time() - began_cpu
        exact = read == records
    finally:
        store.close()
        book.SAMPLE_BYTES = saved
    found = {
        "records": stats.records,
        "received_bytes": stats.received_bytes,
        "record_bytes": stats.raw_bytes,
        "stored_bytes": stats.stored_bytes,
        "records_per_received": round(stats.raw_bytes / stats.received_bytes, 2),
        "stored_per_received": round(stats.stored_bytes / stats.received_bytes, 4),
        "received_per_stored": round(stats.received_bytes / stats.stored_bytes, 2),
        "seal_us_per_record": round(sealing / len(records) * 1e6, 2),
        "read_us_per_record": round(reading / len(records) * 1e6, 2),
        # CPU time: what the seal worker and a reader cost, less sensitive to a busy machine.
        "seal_cpu_us_per_record": round(sealing_cpu / len(records) * 1e6, 2),
        "read_cpu_us_per_record": round(reading_cpu / len(records) * 1e6, 2),
        "read_back_exact": exact,
    }
    if packed:
        found["repack_cpu_us_per_record"] = round(repack_cpu / len(records) * 1e6, 2)
    return found


def candidates(records: list[bytes], wire: list[bytes]) -> dict[str, Any]:
    """The stored forms tried, on the same segments: stored bytes per received byte and the
    cost to pack and unpack one record. The dictionary is trained on the first SAMPLE_BYTES
    of records (as the store does) and measured on the ones after."""
    cut = 0
    taken = 0
    while taken < SAMPLE_BYTES and cut < len(records) // 4:
        taken += len(records[cut])
        cut += 1
    train, rest = records[:cut], records[cut:]
    received = sum(map(len, wire[cut:]))
    segments = segments_of(rest)
    trained = zstandard.train_dictionary(DICT_BYTES, train, level=3)
    decode_json, encode_json = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode

    def join(segment: list[bytes]) -> bytes:
        return b"\n".join(segment) + b"\n"

    def zstd(level: int, dictionary: zstandard.ZstdCompressionDict | None = None) -> tuple[Any, Any]:
        packer = zstandard.ZstdCompressor(level=level, dict_data=dictionary)
        unpacker = zstandard.ZstdDecompressor(dict_data=dictionary)
        return (lambda s: packer.compress(join(s))), (lambda b: unpacker.decompress(b).split(b"\n"))

    def columnar(segment: list[bytes]) -> bytes:
        columns: dict[str, list[bytes]] = {}
        for record in segment:
            for key, value in decode_json(record).items():
                columns.setdefault(key, []).append(encode_json(value))
        body = b"".join(key.encode() + b"\n" + b"\n".join(values) + b"\n" for key, values in columns.items())
        return zstandard.ZstdCompressor(level=3).compress(body)

    def raw_only(segment: list[bytes]) -> bytes:
        # The floor of "keep raw, rebuild the fields on read": what must be kept at least.
        kept = [encode_json([r["received_at"], r["source"], r["raw"]]) for r in map(decode_json, segment)]
        return zstandard.ZstdCompressor(level=3, dict_data=trained).compress(b"\n".join(kept))

    plain3, dict3, plain9, dict9 = zstd(3), zstd(3, trained), zstd(9), zstd(9, trained)
    forms: list[tuple[str, Any, Any]] = [
        ("zstd3_format1_main", *plain3),
        ("zstd9", *plain9),
        ("zstd3_dictionary_format2", *dict3),
        ("zstd9_dictionary", *dict9),
        ("columnar_zstd3", columnar, None),
        ("raw_only_floor_zstd3_dictionary", raw_only, None),
    ]
    found: dict[str, Any] = {"records": len(rest), "received_bytes": received, "record_bytes": sum(map(len, rest))}
    for name, pack, unpack in forms:
        began = time.process_time()  # CPU time: the machine may be busy with other work
        blobs = [pack(segment) for segment in segments]
        packing = time.process_time() - began
        entry = {
            "stored_per_received": round(sum(map(len, blobs)) / received, 4),
            "pack_cpu_us_per_record": round(packing / len(rest) * 1e6, 2),
        }
        if unpack is not None:
            began = time.process_time()
            for blob in blobs:
                unpack(blob)
            entry["unpack_cpu_us_per_record"] = round((time.process_time() - began) / len(rest) * 1e6, 2)
        found[name] = entry
    datagrams = zstandard.ZstdCompressor(level=3)
    # The wire itself, 200 datagrams at a time: what any form that keeps `raw` is bounded by.
    per_segment = 0
    for start in range(cut, len(wire), 200):
        per_segment += len(datagrams.compress(b"\n".join(wire[start : start + 200])))
    found["datagrams_alone_zstd3_per_200"] = {"stored_per_received": round(per_segment / received, 4)}
    return found


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
    parser.add_argument("--mix", type=int, default=40_000, help="venue messages for the stored-size figures")
    parser.add_argument("--pool", type=int, default=POOL, help="distinct records ingest cycles through")
    args = parser.parse_args()
    rng = random.Random(7)
    now = time.time()
    venue_records, venue_wire = make_venue(max(args.mix, args.pool), now)
    flow_pool = make_flows(rng, args.pool, now)
    mix_records, mix_wire = venue_records[: args.mix], venue_wire[: args.mix]
    with tempfile.TemporaryDirectory(prefix="nocraven-bench-buffer-") as tmp:
        stored = {
            "mix": "nocraven/simulate/venue_mix.py seed 7 through collectors/syslog/parse.py",
            "before_format1": storage(mix_records, list(map(len, mix_wire)), Path(tmp), dictionaries=False),
            "after_format2": storage(mix_records, list(map(len, mix_wire)), Path(tmp), dictionaries=True),
            "cold_format3_packed": storage(
                mix_records, list(map(len, mix_wire)), Path(tmp), dictionaries=True, packed=True
            ),
            "candidates": candidates(mix_records, mix_wire),
        }
        syslog = run_service("syslog", venue_records[: args.pool], args.records, Path(tmp))
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
        "storage": stored,
        "syslog": syslog,
        "flow": flow,
        "targets": {
            "ingest_syslog_records_per_s": 500_000,
            "drain_records_per_s": 1_000_000,
            "syslog_stored_per_received_max": 0.125,
        },
        "met": {
            "ingest_inline": syslog["ingest_inline"]["records_per_s"] >= 500_000,
            "ingest_threaded": syslog["ingest_threaded"]["records_per_s"] >= 500_000,
            "drain": syslog["drain"]["records_per_s"] >= 1_000_000,
            # What the buffer holds for weeks: cold segments, packed.
            "stored_fraction": stored["cold_format3_packed"]["stored_per_received"] <= 0.125,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
