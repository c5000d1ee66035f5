"""The forwarder's summary for the dashboard and the header: the worst sink's state wins."""

from __future__ import annotations

from nocraven.forward.component import summarize
from nocraven.schema.forward import SinkStatus


def sink(name: str, state: str, backlog: int = 0, rate: float = 0.0) -> SinkStatus:
    return SinkStatus(
        name=name,
        type="nats",
        state=state,
        reason="",
        backlog_records=backlog,
        backlog_bytes=backlog * 100,
        oldest_age_s=None,
        rate_rps=rate,
        eta_s=None,
        last_delivery=None,
        last_error="",
    )


def test_the_worst_state_and_the_totals_of_every_sink() -> None:
    shown = summarize("arena-01", [sink("noc", "draining", 500, 1000.0), sink("archive", "paused", 200)])
    assert (shown.state, shown.backlog_records, shown.rate_rps, shown.site) == ("paused", 700, 1000.0, "arena-01")
    assert summarize("a", [sink("noc", "forwarding"), sink("gw", "failing"), sink("x", "buffering")]).state == "failing"


def test_no_sink_no_state() -> None:
    shown = summarize("arena-01", [])
    assert shown.state is None and shown.sinks == [] and shown.backlog_records == 0
