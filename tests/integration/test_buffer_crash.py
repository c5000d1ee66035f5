"""kill -9 a writer process at random moments: the buffer must open clean, keep every committed
segment, and lose at most what was still in the open segments.

This file is also the writer: `python test_buffer_crash.py DATA_DIR SEED` appends and seals in
a loop and prints, after each commit returns, the last committed seq per service.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("syslog", "flow")
SEAL_BYTES = 64 * 1024
MAX_BATCH = 200
MIN_RECORD = 120
ROUNDS = 24

pytestmark = pytest.mark.integration


def record(service: str, seq: int) -> bytes:
    noise = hashlib.md5(f"{service}/{seq}".encode()).hexdigest()
    return (
        f'{{"service":"{service}","seq":{seq},"received_at":"2024-05-01T12:00:00.000Z",'
        f'"source":"10.0.0.{seq % 250}:514","message":"msg {noise} {noise[: seq % 32]}"}}'
    ).encode()


def writer(data_dir: str, seed: int) -> None:
    sys.path.insert(0, str(REPO))
    from nocraven.buffer import BufferLimits, SegmentStore

    limits = BufferLimits(seal_bytes=SEAL_BYTES, seal_interval_s=0.05, min_free_disk_bytes=0)
    store = SegmentStore.open(data_dir, limits, time.time())
    stats = store.stats(time.time())
    next_seq = {s: (stats.services[s].last_seq if s in stats.services else 0) + 1 for s in SERVICES}
    rng = random.Random(seed)
    print(json.dumps({"ready": next_seq}), flush=True)
    while True:
        now = time.time()
        for service in SERVICES:
            count = rng.randint(1, MAX_BATCH)
            # Announce before appending: the parent's bound on what was appended is then safe.
            print(json.dumps({"appending": {service: next_seq[service] + count - 1}}), flush=True)
            store.append(
                service, [record(service, seq) for seq in range(next_seq[service], next_seq[service] + count)], now
            )
            next_seq[service] += count
        sealed = store.seal_due(now)
        committed: dict[str, int] = {}
        for segment in sealed:
            committed[segment.service] = max(committed.get(segment.service, 0), segment.last_seq)
        if committed:
            print(json.dumps({"committed": committed}), flush=True)


def parse(output: str) -> tuple[dict[str, int], dict[str, int], bool]:
    committed = dict.fromkeys(SERVICES, 0)
    announced = dict.fromkeys(SERVICES, 0)
    ready = False
    for line in output.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line the kill cut short
        ready = ready or "ready" in message
        for service, seq in message.get("committed", {}).items():
            committed[service] = max(committed[service], seq)
        for service, seq in message.get("appending", {}).items():
            announced[service] = max(announced[service], seq)
    return committed, announced, ready


def run_round(data_dir: Path, seed: int, log_path: Path, wait_ready: bool) -> tuple[dict[str, int], dict[str, int]]:
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, __file__, str(data_dir), str(seed)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 10
        if wait_ready:
            while '"ready"' not in log_path.read_text():
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "writer did not start"
                time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    committed, announced, _ = parse(log_path.read_text())
    return committed, announced


def verify(
    data_dir: Path, committed: dict[str, int], announced: dict[str, int], checked: dict[str, int]
) -> dict[str, int]:
    """Check the database after a kill; record contents are compared from `checked` on (what
    earlier rounds verified), segment continuity over everything."""
    db = data_dir / "buffer.db"
    if not db.exists():
        assert not any(committed.values())
        return dict.fromkeys(SERVICES, 0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for service in SERVICES:
            ranges = conn.execute(
                "SELECT first_seq, last_seq FROM segments WHERE service = ? ORDER BY first_seq", (service,)
            ).fetchall()
            expected = 1
            for first, last in ranges:
                assert first == expected, f"{service}: segment starts at {first}, expected {expected}"
                expected = last + 1
    from nocraven.buffer import BufferLimits, SegmentStore

    store = SegmentStore.open(data_dir, BufferLimits(min_free_disk_bytes=0), time.time())
    try:
        stats = store.stats(time.time())
        on_disk: dict[str, int] = {}
        for service in SERVICES:
            last = stats.services[service].last_seq if service in stats.services else 0
            on_disk[service] = last
            assert last >= committed[service], f"{service}: committed {committed[service]} but only {last} on disk"
            # Unsealed loss: at most the open segment (seal size) plus the batch being appended.
            bound = SEAL_BYTES // MIN_RECORD + MAX_BATCH
            assert announced[service] - last <= bound, (service, announced[service], last)
            position = min(checked[service], last)
            while True:
                batch = store.read("verify", service, 5000, after_seq=position)
                assert batch.gap is None
                for offset, got in enumerate(batch.records):
                    assert got == record(service, batch.first_seq + offset)
                if batch.last_seq == position:
                    break
                position = batch.last_seq
            assert position == last
        assert store.ledger() == []
        return on_disk
    finally:
        store.close()


def test_kill_9_during_writes_loses_nothing_committed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = time.monotonic()
    previous = dict.fromkeys(SERVICES, 0)
    for round_number in range(ROUNDS):
        # A few rounds kill the writer during start-up (schema creation, WAL recovery).
        wait_ready = round_number % 6 != 5
        committed, announced = run_round(
            data_dir, 1000 + round_number, tmp_path / f"round{round_number}.log", wait_ready
        )
        on_disk = verify(data_dir, committed, announced, previous)
        for service in SERVICES:
            assert on_disk[service] >= previous[service]
        previous = on_disk
        assert time.monotonic() - started < 55, f"only {round_number + 1} rounds in 55 s"
    assert all(previous.values())


if __name__ == "__main__":
    writer(sys.argv[1], int(sys.argv[2]))
