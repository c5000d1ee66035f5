"""Per-agent counters of the trap receiver: what each sending device did, as plain data."""

from __future__ import annotations

from typing import Any

# Refusals that are authentication failures (wrong community, user, key or security level).
AUTH_FAILURES = frozenset(
    {"unknown_community", "unknown_user", "wrong_digest", "wrong_security_level", "decryption_error"}
)
OTHER_AGENTS = "other"  # where agents beyond MAX_AGENTS are counted (spoofed floods stay bounded)
MAX_AGENTS = 4096
_SAMPLE_BYTES = 256


def _new_agent() -> dict[str, Any]:
    return {
        "traps": 0,
        "informs": 0,
        "auth_failures": 0,
        "unknown_community": 0,
        "malformed": 0,
        "refused": {},  # reason -> count
        "discovery_probes": 0,  # SNMPv3 engine ID probes answered (before an INFORM)
        "duplicate_informs": 0,  # retransmitted INFORMs acknowledged again, not stored twice
        "last_seen": None,
        "last_version": None,
        "engine_id": None,  # the SNMPv3 engine ID the agent last sent with (hex)
    }


class AgentCounters:
    """Counts per agent IP; `snapshot()` is what `nocraven traps agents` will show."""

    def __init__(self) -> None:
        self.agents: dict[str, dict[str, Any]] = {}
        self.totals: dict[str, int] = {"traps": 0, "informs": 0, "auth_failures": 0, "malformed": 0, "refused": 0}
        self.last_malformed: dict[str, Any] | None = None  # a sample kept for inspection

    def agent(self, ip: str) -> dict[str, Any]:
        entry = self.agents.get(ip)
        if entry is None:
            if len(self.agents) >= MAX_AGENTS:
                ip = OTHER_AGENTS
                entry = self.agents.get(ip)
            if entry is None:
                entry = self.agents[ip] = _new_agent()
        return entry

    def accepted(self, ip: str, inform: bool, version: str, engine_id: bytes | None, now: float) -> None:
        entry = self.agent(ip)
        kind = "informs" if inform else "traps"
        entry[kind] += 1
        self.totals[kind] += 1
        entry["last_seen"] = now
        entry["last_version"] = version
        if engine_id is not None:
            entry["engine_id"] = engine_id.hex()

    def duplicate_inform(self, ip: str, now: float) -> None:
        entry = self.agent(ip)
        entry["duplicate_informs"] += 1
        entry["last_seen"] = now

    def refused(self, ip: str, reason: str, now: float) -> None:
        entry = self.agent(ip)
        if reason == "discovery":
            entry["discovery_probes"] += 1
            return
        entry["refused"][reason] = entry["refused"].get(reason, 0) + 1
        entry["last_seen"] = now
        self.totals["refused"] += 1
        if reason == "unknown_community":
            entry["unknown_community"] += 1
        if reason in AUTH_FAILURES:
            entry["auth_failures"] += 1
            self.totals["auth_failures"] += 1

    def malformed(self, ip: str, source: str, reason: str, datagram: bytes, now: float) -> None:
        entry = self.agent(ip)
        entry["malformed"] += 1
        entry["last_seen"] = now
        self.totals["malformed"] += 1
        self.last_malformed = {
            "source": source,
            "reason": reason,
            "at": now,
            "bytes": len(datagram),
            "head_hex": datagram[:_SAMPLE_BYTES].hex(),
        }

    def take(self) -> dict[str, Any]:
        """The counts since the last `take()` (a worker's delta for the collector to `add`)."""
        delta = self.snapshot()
        self.agents.clear()
        self.totals = dict.fromkeys(self.totals, 0)
        self.last_malformed = None
        return delta

    def add(self, delta: dict[str, Any]) -> None:
        """Fold a worker's `take()` into these counters."""
        for key, count in delta["totals"].items():
            self.totals[key] = self.totals.get(key, 0) + count
        for ip, theirs in delta["agents"].items():
            mine = self.agent(ip)
            for key, value in theirs.items():
                if key == "refused":
                    for reason, count in value.items():
                        mine["refused"][reason] = mine["refused"].get(reason, 0) + count
                elif key in ("last_seen", "last_version", "engine_id"):
                    if value is not None and (key != "last_seen" or (mine[key] or 0) <= value):
                        mine[key] = value
                else:
                    mine[key] += value
        if delta["last_malformed"] is not None:
            self.last_malformed = delta["last_malformed"]

    def snapshot(self) -> dict[str, Any]:
        return {
            "totals": dict(self.totals),
            "agents": {ip: {**entry, "refused": dict(entry["refused"])} for ip, entry in self.agents.items()},
            "last_malformed": self.last_malformed,
        }
