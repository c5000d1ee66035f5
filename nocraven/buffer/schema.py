"""The buffer's tables and their migrations (sqlite-utils), and the connection settings.

Durability: WAL with synchronous=FULL. In WAL mode NORMAL already survives a killed process,
but a power cut (an unplugged appliance) can roll back commits since the last checkpoint;
FULL fsyncs the WAL at every commit, so a commit that returned is on disk. It costs one fsync
per seal transaction (a few a second) and per ack, both batched, measured ~0.3 ms here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

DB_FILENAME = "buffer.db"
SCHEMA_VERSION = 3


def connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: the store issues BEGIN IMMEDIATE / COMMIT itself.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    # The WAL keeps its high-water size (no journal_size_limit): that space is reused for
    # small transactions such as evictions and ledger rows when the filesystem is full.
    return conn


def _v1(db: sqlite_utils.Database) -> None:
    # AUTOINCREMENT (not expressible in sqlite-utils' create) keeps ids monotonic after deletes:
    # forwarders page the ledger by id, and decoded-segment caches are keyed by segment id.
    db.execute(
        "CREATE TABLE IF NOT EXISTS segments ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL,"
        " first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
        " record_count INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,"
        " stored_bytes INTEGER NOT NULL, first_received REAL NOT NULL,"
        " last_received REAL NOT NULL, checksum INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS ledger ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at REAL NOT NULL,"
        " service TEXT NOT NULL, source TEXT, reason TEXT NOT NULL,"
        " records INTEGER NOT NULL, bytes INTEGER NOT NULL,"
        " first_time REAL NOT NULL, last_time REAL NOT NULL,"
        " first_seq INTEGER, last_seq INTEGER)"
    )
    # Blobs live apart from metadata so eviction, stats and time-range lookups never read them.
    db.table("segment_blobs").create({"id": int, "blob": bytes}, pk="id", not_null={"blob"}, if_not_exists=True)
    db.table("segments").create_index(["service", "last_seq"], unique=True, if_not_exists=True)
    db.table("service_state").create(
        {
            "service": str,
            "last_seq": int,
            "segments": int,
            "records": int,
            "raw_bytes": int,
            "stored_bytes": int,
            "oldest_received": float,
            "newest_received": float,
        },
        pk="service",
        not_null={"last_seq", "segments", "records", "raw_bytes", "stored_bytes"},
        if_not_exists=True,
    )
    db.table("cursors").create(
        {"sink": str, "service": str, "acked_seq": int, "updated_at": float},
        pk=("sink", "service"),
        not_null={"acked_seq"},
        if_not_exists=True,
    )
    db.table("drop_totals").create(
        {"service": str, "reason": str, "records": int, "bytes": int},
        pk=("service", "reason"),
        not_null={"records", "bytes"},
        if_not_exists=True,
    )
    db.table("quarantine").create(
        {
            "id": int,
            "segment_id": int,
            "service": str,
            "first_seq": int,
            "last_seq": int,
            "record_count": int,
            "raw_bytes": int,
            "stored_bytes": int,
            "first_received": float,
            "last_received": float,
            "checksum": int,
            "quarantined_at": float,
            "error": str,
            "blob": bytes,
        },
        pk="id",
        if_not_exists=True,
    )


def _add_column(db: sqlite_utils.Database, table: str, name: str, default: int | None) -> None:
    if name not in db[table].columns_dict:
        db[table].add_column(name, int, not_null_default=default)  # type: ignore[union-attr]


def _v2(db: sqlite_utils.Database) -> None:
    # Segment formats (segment.py): rows written before v2 are format 1, plain zstd, and read
    # as before. received_bytes: what arrived on the wire, for "stored per received".
    _add_column(db, "segments", "format", 1)
    _add_column(db, "segments", "dict_id", None)
    _add_column(db, "segments", "received_bytes", 0)
    _add_column(db, "service_state", "received_bytes", 0)
    _add_column(db, "quarantine", "format", 1)
    _add_column(db, "quarantine", "dict_id", None)
    # Dictionaries leave with the last segment naming them: one indexed lookup per eviction.
    db.table("segments").create_index(["dict_id"], if_not_exists=True)
    db.table("dictionaries").create(
        {"id": int, "service": str, "created_at": float, "data": bytes},
        pk="id",
        not_null={"service", "data"},
        if_not_exists=True,
    )


def _v3(db: sqlite_utils.Database) -> None:
    # Segment format 3 (packed, segment.py): no new column, but a version that predates it must
    # refuse this file instead of reading packed blobs as records (it would quarantine them).
    # Recording the version is the whole step.
    return None


MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [(1, _v1), (2, _v2), (3, _v3)]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; each step is idempotent, so a crash halfway through
    is repaired by running it again. Returns the version found before migrating."""
    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    db.table("schema_version").create({"version": int, "applied_at": float}, pk="version", if_not_exists=True)
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"buffer database schema v{found} is newer than this software (v{SCHEMA_VERSION});"
            " upgrade nocraven or move the data dir aside"
        )
    for version, step in MIGRATIONS:
        if version > found:
            step(db)
            conn.execute(
                "INSERT OR REPLACE INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
    return int(found)


def describe(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts per table, for inspection and tests."""
    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    return {name: db[name].count for name in db.table_names()}
