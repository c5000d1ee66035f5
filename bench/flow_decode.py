"""Decode-only micro benchmark of the flow decoder: records/s per version on one core, NDJSON
encoding included (what a UDP worker does per datagram), sockets and buffer excluded.

    .venv/bin/python bench/flow_decode.py [--seconds 2]

Prints one JSON object: per version, records and datagrams per CPU second (and per wall second,
which on a shared machine also counts the time other processes held the core). Datagrams are
built like an exporter's: v5 with 30 records, v9 and IPFIX with ~25-28 records of a
softflowd-like template (the template sent once, then data only), sFlow with 8 flow samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.flow.decoder import FlowDecoder, encode_records
from tests.support.flowpackets import (
    flows,
    ipfix_flows,
    netflow_v5,
    sflow_datagram,
    sflow_flow_sample,
    v9_flows,
)

EXPORTER = ("192.0.2.1", 50000)


def datagrams(version: str, count: int) -> tuple[bytes | None, list[bytes]]:
    """The template datagram (if any) and `count` data datagrams with changing sequence numbers."""
    if version == "v5":
        return None, [netflow_v5(flows(30, seed=i), sequence=30 * i) for i in range(count)]
    if version == "v9":
        return v9_flows(flows(1)), [
            v9_flows(flows(28, seed=i), sequence=i + 1, with_template=False) for i in range(count)
        ]
    if version == "ipfix":
        return ipfix_flows(flows(1)), [
            ipfix_flows(flows(25, seed=i), sequence=1 + 25 * i, with_template=False) for i in range(count)
        ]
    samples = [sflow_flow_sample(f, sequence=i + 1) for i, f in enumerate(flows(8))]
    return None, [sflow_datagram(samples, sequence=i + 1) for i in range(count)]


def measure(version: str, seconds: float) -> dict[str, float]:
    decoder = FlowDecoder()
    template, data = datagrams(version, 200)
    if template is not None:
        decoder.decode(template, EXPORTER, time.time())
    decode: Callable[[bytes, tuple[str, int], float], list[dict[str, object]]] = decoder.decode
    records = sent = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        now = time.time()
        for datagram in data:
            batch = decode(datagram, EXPORTER, now)
            encode_records(batch)
            records += len(batch)
        sent += len(data)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    stats = decoder.stats.exporters[EXPORTER[0]]
    assert stats["decode_errors"] == 0, stats["last_error"]
    # CPU time is what a core spends; on a shared machine wall time also counts the waits.
    return {
        "records_per_cpu_s": round(records / cpu),
        "records_per_wall_s": round(records / elapsed),
        "datagrams_per_cpu_s": round(sent / cpu),
        "us_cpu_per_record": round(cpu / records * 1e6, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per version (keep the total under a minute)")
    args = parser.parse_args()
    results = {version: measure(version, args.seconds) for version in ("v5", "v9", "ipfix", "sflow")}
    print(
        json.dumps(
            {
                "benchmark": "flow_decode",
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "seconds_per_version": args.seconds,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
