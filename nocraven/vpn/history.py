"""The VPN manager's memory in `<data>/vpn/state.json` and `<data>/vpn/history.sqlite`: the mode,
override and active profile (so a restart restores the same tunnel), connection events with
their durations and reasons, and probe results (kept `history_hours`)."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from nocraven.vpn.policy import Mode, Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    started REAL NOT NULL,
    connected REAL,
    ended REAL,
    reason_started TEXT NOT NULL DEFAULT '',
    reason_ended TEXT
);
CREATE TABLE IF NOT EXISTS probes (
    profile TEXT NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms REAL,
    loss_percent REAL,
    jitter_ms REAL
);
CREATE INDEX IF NOT EXISTS probes_profile_at ON probes (profile, at);
"""


@dataclass(frozen=True)
class HistoryEntry:
    profile: str
    started: float
    connected: float | None
    ended: float | None
    reason_started: str
    reason_ended: str | None

    @property
    def duration_s(self) -> float | None:
        if self.connected is None:
            return None
        return (self.ended or self.connected) - self.connected


class VpnMemory:
    def __init__(self, data_dir: Path, history_hours: int = 24) -> None:
        self.dir = data_dir / "vpn"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        self.state_path = self.dir / "state.json"
        self.keep_s = history_hours * 3600
        self.db = sqlite3.connect(self.dir / "history.sqlite")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._open: int | None = None
        # An entry left open by a crash is closed as such, so durations stay honest.
        self.db.execute(
            "UPDATE connections SET ended = COALESCE(connected, started), reason_ended = 'the manager stopped'"
            " WHERE ended IS NULL"
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    # ---- state --------------------------------------------------------------------------------

    def load_state(self) -> Snapshot | None:
        try:
            data = json.loads(self.state_path.read_text())
            return Snapshot(Mode(data["mode"]), data.get("override"), data.get("active"))
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def save_state(self, snapshot: Snapshot) -> None:
        data = asdict(snapshot)
        data["mode"] = snapshot.mode.value
        temporary = self.state_path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.state_path)

    # ---- connection events --------------------------------------------------------------------

    def started(self, profile: str, reason: str, at: float) -> None:
        self.ended("replaced", at)
        cursor = self.db.execute(
            "INSERT INTO connections (profile, started, reason_started) VALUES (?, ?, ?)", (profile, at, reason)
        )
        self._open = cursor.lastrowid
        self.db.commit()

    def connected(self, at: float) -> None:
        if self._open is not None:
            self.db.execute("UPDATE connections SET connected = ? WHERE id = ? AND connected IS NULL", (at, self._open))
            self.db.commit()

    def ended(self, reason: str, at: float) -> None:
        if self._open is None:
            return
        self.db.execute("UPDATE connections SET ended = ?, reason_ended = ? WHERE id = ?", (at, reason, self._open))
        self.db.commit()
        self._open = None

    def history(self, limit: int = 100) -> list[HistoryEntry]:
        rows = self.db.execute(
            "SELECT profile, started, connected, ended, reason_started, reason_ended"
            " FROM connections ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [HistoryEntry(*row) for row in rows]

    # ---- probes -------------------------------------------------------------------------------

    def probed(
        self, profile: str, at: float, ok: bool, latency_ms: float | None, loss_percent: float, jitter_ms: float | None
    ) -> None:
        self.db.execute(
            "INSERT INTO probes VALUES (?, ?, ?, ?, ?, ?)", (profile, at, int(ok), latency_ms, loss_percent, jitter_ms)
        )
        self.db.execute("DELETE FROM probes WHERE at < ?", (at - self.keep_s,))
        self.db.commit()

    def probes(self, profile: str, since: float) -> list[tuple[float, bool, float | None, float, float | None]]:
        rows = self.db.execute(
            "SELECT at, ok, latency_ms, loss_percent, jitter_ms FROM probes WHERE profile = ? AND at >= ? ORDER BY at",
            (profile, since),
        )
        return [(at, bool(ok), lat, loss, jit) for at, ok, lat, loss, jit in rows]
