"""A real small filesystem (8 MiB tmpfs): the buffer degrades to accounted disk_full drops,
never raises, and resumes when space returns.

How a drop is recorded on a full disk: the store first stops growing at min_free_disk_bytes and
recycles its own pages (evictions with reason disk_full); if a write still fails with
SQLITE_FULL, the lost batch is accounted in memory and written with the first transaction that
succeeds (the WAL keeps its size, so a small ledger write usually fits even then).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nocraven.buffer import BufferLimits, SegmentStore

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
T0 = 1_700_000_000.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {exc}")
    try:
        yield mountpoint
    finally:
        result = subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=10)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=10)


class Feeder:
    """Appends poorly compressible syslog-like records (about 2x) and seals like the worker."""

    def __init__(self, store: SegmentStore) -> None:
        self.store = store
        self.appended = 0
        self.now = T0

    def feed(self, records: int, batch: int = 500) -> None:
        for _ in range(0, records, batch):
            self.now += 0.05
            lines = [
                json.dumps(
                    {
                        "service": "syslog",
                        "received_at": "2024-05-01T12:00:00Z",
                        "n": self.appended + i,
                        "message": os.urandom(80).hex(),
                    },
                    separators=(",", ":"),
                ).encode()
                for i in range(batch)
            ]
            self.store.append("syslog", lines, self.now)
            self.appended += batch
            self.store.seal_due(self.now)

    def check_accounting(self) -> dict[str, int]:
        stats = self.store.stats(self.now)
        syslog = stats.services["syslog"]
        dropped = {reason: count.records for reason, count in syslog.dropped.items()}
        assert syslog.records + sum(dropped.values()) + syslog.unsealed_records == self.appended
        return dropped


def fill_filesystem(path: Path) -> int:
    """Write until ENOSPC, with shrinking chunks so not even a partial block is left."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    written += os.write(fd, chunk)
                except OSError:
                    break
    finally:
        os.close(fd)
    return written


def test_full_disk_degrades_to_accounted_drops_and_recovers(small_disk: Path) -> None:
    limits = BufferLimits(
        total_bytes=64 * MIB,  # larger than the disk: the disk is the limit
        min_free_disk_bytes=1 * MIB,
        seal_bytes=64 * 1024,
    )
    store = SegmentStore.open(small_disk / "data", limits, T0)
    feeder = Feeder(store)
    try:
        # 1. Growing into the headroom: the store stops growing and recycles its pages.
        feeder.feed(80_000)
        stats = store.stats(feeder.now)
        assert stats.disk_limited
        dropped = feeder.check_accounting()
        assert dropped.get("disk_full", 0) > 0
        assert stats.disk_free_bytes is not None and stats.disk_free_bytes > 0

        # 2. Something else takes the last byte: still no exception, still exact accounting.
        filler = small_disk / "filler"
        fill_filesystem(filler)
        assert os.statvfs(small_disk).f_bavail == 0
        before = feeder.check_accounting()["disk_full"]
        feeder.feed(20_000)
        after = feeder.check_accounting()["disk_full"]
        assert after > before
        # A burst bigger than the WAL can hold: SQLITE_FULL, accounted in memory meanwhile.
        feeder.feed(20_000, batch=20_000)
        assert store.stats(feeder.now).storage_failing
        assert feeder.check_accounting()["disk_full"] >= after + 20_000
        assert store.read("noc", "syslog", 10).records  # reading still works

        # 3. Space returns: the held accounting is written, new data is stored again.
        filler.unlink()
        stored_before = store.stats(feeder.now).records
        feeder.feed(2_000)
        stats = store.stats(feeder.now)
        assert not stats.storage_failing
        dropped = feeder.check_accounting()
        ledger = {}
        for entry in store.ledger(limit=100_000):
            ledger[entry.drop.reason.value] = ledger.get(entry.drop.reason.value, 0) + entry.drop.records
        assert ledger == dropped
        newest = json.loads(store.tail("syslog", 1)[0])
        assert newest["n"] == feeder.appended - 1
        assert stats.records > 0 and stored_before > 0
    finally:
        store.close()
    with sqlite3.connect(small_disk / "data" / "buffer.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert time.monotonic() > 0


def test_a_full_disk_without_headroom_evicts_oldest_and_never_flaps(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 9 item 7: with min_free_disk_bytes = 0 every new record was dropped once the
    # filesystem filled, and the store flapped between failed and recovered.
    limits = BufferLimits(total_bytes=64 * MIB, min_free_disk_bytes=0, seal_bytes=64 * 1024)
    store = SegmentStore.open(small_disk / "data", limits, T0)
    feeder = Feeder(store)
    try:
        feeder.feed(100_000)  # several times what the 8 MiB disk holds
        assert os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize < 1 * MIB
        caplog.clear()
        failing = []
        for _ in range(20):
            feeder.feed(2_000)
            failing.append(store.stats(feeder.now).storage_failing)
            newest = json.loads(store.tail("syslog", 1)[0])
            assert newest["n"] == feeder.appended - 1  # the newest is kept, the oldest go
        assert not any(failing)
        assert "recovered" not in caplog.text and "write failed" not in caplog.text
        dropped = feeder.check_accounting()
        assert set(dropped) == {"disk_full"}
        assert store.stats(feeder.now).records > 10_000
    finally:
        store.close()
