"""The forwarder's bodies and events: each sink's state and backlog, pause/resume, state changes."""

from __future__ import annotations

from typing import ClassVar

from nocraven.schema.base import Body
from nocraven.schema.events import Event, register


class SinkStatus(Body):
    """One sink as `nocraven forward status` shows it."""

    name: str
    type: str
    state: str  # forwarding, draining, buffering, paused, failing
    reason: str
    backlog_records: int
    backlog_bytes: int
    oldest_age_s: float | None
    rate_rps: float
    eta_s: float | None
    last_delivery: float | None  # epoch seconds
    last_error: str
    delivered_records: int = 0
    duplicate_batches: int = 0  # batches the NOC already had (replays it removed)
    quarantined_batches: int = 0
    gap_events: int = 0


class ForwardStatus(Body):
    """Every sink, and the worst state among them (what the dashboard and the header show);
    `state` is None when no sink is configured. Also the forward component's status detail."""

    state: str | None = None
    backlog_records: int = 0
    rate_rps: float = 0.0
    site: str = ""
    sinks: list[SinkStatus] = []


class SinkRequest(Body):
    """Pause or resume one sink by name; every sink when `sink` is left out."""

    sink: str | None = None


class SinksControlled(Body):
    action: str  # "paused" or "resumed"
    sinks: list[str]


@register
class ForwardStateChanged(Event, frozen=True, kw_only=True):
    """A sink changed state (forwarding, draining, buffering, paused, failing), with why."""

    kind: ClassVar[str] = "forward.state_changed"
    sink: str
    state: str
    reason: str = ""


@register
class ForwardBatchQuarantined(Event, frozen=True, kw_only=True):
    """The NOC refused a batch for good; it was set aside under data_dir/quarantine/SINK/."""

    kind: ClassVar[str] = "forward.batch_quarantined"
    sink: str
    message_id: str
    service: str
    records: int
    reason: str
