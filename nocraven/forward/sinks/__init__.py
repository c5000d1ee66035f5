"""Sinks: where the forwarder delivers batches (see `base` for the interface)."""

from __future__ import annotations

from nocraven.forward.settings import SinkSettings
from nocraven.forward.sinks.base import Delivered, Outcome, Rejected, Retry, Sink, SinkUnavailable


def open_sink(settings: SinkSettings, site: str) -> Sink:
    """The sink object for a `[[forward.sinks]]` table (not connected yet)."""
    if settings.type == "nats":
        from nocraven.forward.sinks.nats import NatsSink

        return NatsSink(settings, site)
    if settings.type == "http":
        from nocraven.forward.sinks.http import HttpSink

        return HttpSink(settings, site)
    if settings.type == "syslog":
        from nocraven.forward.sinks.syslog import SyslogSink

        return SyslogSink(settings, site)
    raise ValueError(f"unknown sink type {settings.type!r}")


__all__ = ["Delivered", "Outcome", "Rejected", "Retry", "Sink", "SinkUnavailable", "open_sink"]
