"""The 24-hour history in SQLite: one row per fixed-resolution bucket (the last sample in a
bucket wins), and the alerts raised and cleared. Blocking: call it from a thread."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from nocraven.schema.health import Alert, HistoryPoint

RESOLUTION_S = 60.0
KEEP_S = 24 * 3600.0
KEEP_ALERTS = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (bucket INTEGER PRIMARY KEY, at REAL NOT NULL, vals TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, metric TEXT NOT NULL, severity TEXT NOT NULL,
    message TEXT NOT NULL, value REAL NOT NULL, raised_at REAL NOT NULL, cleared_at REAL
);
"""


class HealthStore:
    def __init__(self, path: Path, resolution_s: float = RESOLUTION_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.resolution_s = resolution_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, now: float, values: dict[str, float]) -> None:
        bucket = int(now // self.resolution_s)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO samples (bucket, at, vals) VALUES (?, ?, ?)", (bucket, now, json.dumps(values))
            )
            self._db.execute("DELETE FROM samples WHERE bucket < ?", (int((now - KEEP_S) // self.resolution_s),))

    def points(self, since: float) -> list[HistoryPoint]:
        with self._lock:
            rows = self._db.execute("SELECT at, vals FROM samples WHERE at >= ? ORDER BY bucket", (since,)).fetchall()
        return [HistoryPoint(at=at, values=json.loads(vals)) for at, vals in rows]

    def alert_raised(self, alert: Alert) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO alerts (metric, severity, message, value, raised_at) VALUES (?, ?, ?, ?, ?)",
                (alert.metric, alert.severity, alert.message, alert.value, alert.raised_at),
            )
            self._db.execute("DELETE FROM alerts WHERE id <= (SELECT MAX(id) FROM alerts) - ?", (KEEP_ALERTS,))

    def alert_cleared(self, alert: Alert) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE alerts SET cleared_at = ? WHERE metric = ? AND raised_at = ? AND cleared_at IS NULL",
                (alert.cleared_at, alert.metric, alert.raised_at),
            )

    def close_open_alerts(self, now: float) -> None:
        """Alerts left open by a stop: the new run starts with none active (they are raised
        again if their cause is still there)."""
        with self._lock:
            self._db.execute("UPDATE alerts SET cleared_at = ? WHERE cleared_at IS NULL", (now,))

    def alerts(self, limit: int = 50) -> list[Alert]:
        with self._lock:
            rows = self._db.execute(
                "SELECT metric, severity, message, value, raised_at, cleared_at FROM alerts ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Alert(metric=m, severity=s, message=msg, value=v, raised_at=r, cleared_at=c) for m, s, msg, v, r, c in rows
        ]
