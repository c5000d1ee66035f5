"""The Windows event endpoint's bodies: its agents (one per token) and their counters.

The per-agent counters are the collector's own Struct (`collectors.winevents.report`), reused
as they are: a counter is named once, where the collector reports it.
"""

from __future__ import annotations

from collectors.winevents.report import AgentCounters
from nocraven.schema.base import Body
from nocraven.schema.collector import ListenerStatus

__all__ = ["AgentCounters", "WineventsAgents"]


class WineventsAgents(Body):
    """GET /v1/winevents/agents: every agent by token name, configured or seen.

    A configured token that never posted shows with zeros (an agent that is not sending);
    `(unauthenticated)` counts requests refused before any token matched."""

    agents: dict[str, AgentCounters]
    configured: list[str]  # the token names in winevents.tokens, in order
    listeners: list[ListenerStatus]  # empty when winevents.listen is off
    busy_refusals: int  # requests answered 429 since the collector started
