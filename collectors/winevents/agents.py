"""Per-agent counters, keyed by token name: what `nocraven winevents agents` will show.

Requests refused before an agent is known (no token, wrong token) are counted under
`UNAUTHENTICATED`, with the source address of the last one, so a misconfigured agent shows
up rather than vanishing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from collectors.winevents.report import AgentCounters

UNAUTHENTICATED: Final = "(unauthenticated)"


@dataclass
class AgentStats:
    name: str
    requests: int = 0
    events: int = 0  # stored
    duplicates: int = 0
    refused_events: int = 0
    security_events: int = 0
    errors: int = 0  # requests answered 4xx/5xx
    last_seen: float | None = None
    last_source: str | None = None
    last_error: str | None = None
    last_dialect: str | None = None


class AgentBook:
    def __init__(self) -> None:
        self._agents: dict[str, AgentStats] = {}

    def get(self, name: str) -> AgentStats:
        stats = self._agents.get(name)
        if stats is None:
            stats = self._agents[name] = AgentStats(name)
        return stats

    def seen(self, name: str, source: str, now: float) -> AgentStats:
        stats = self.get(name)
        stats.requests += 1
        stats.last_seen = now
        stats.last_source = source
        return stats

    def error(self, name: str, source: str, reason: str, now: float) -> None:
        stats = self.get(name)
        if name == UNAUTHENTICATED:
            stats.requests += 1
            stats.last_seen = now
            stats.last_source = source
        stats.errors += 1
        stats.last_error = reason

    def snapshot(self) -> list[dict[str, Any]]:
        return [asdict(stats) for _, stats in sorted(self._agents.items())]

    def counters(self) -> dict[str, AgentCounters]:
        """Every agent's counters as the COUNTERS frame carries them."""
        counters = {}
        for name, stats in self._agents.items():
            fields = asdict(stats)
            del fields["name"]
            counters[name] = AgentCounters(**fields)
        return counters
