"""The flow collector's bodies: exporters, templates, top talkers and protocols.

The counter and template Structs are the collector's own (`collectors.flow.report`), reused as
they are: a counter is named once, where the collector reports it.
"""

from __future__ import annotations

from typing import Literal

from collectors.flow.report import ExporterCounters, TemplateInfo, Usage
from nocraven.schema.base import Body
from nocraven.schema.collector import ListenerStatus

TopMeasure = Literal["bytes", "packets", "flows"]


class ExporterStatus(Body):
    address: str  # the exporter's IP ("other" beyond the collector's exporter limit)
    rate_rps: float  # records per second between the last two reports
    templates: int  # templates held for it (all its ports and domains)
    counters: ExporterCounters


class FlowExporters(Body):
    """GET /v1/flow/exporters: every exporter, busiest first, and the listeners (kernel drops)."""

    exporters: list[ExporterStatus]
    listeners: list[ListenerStatus]


class FlowTemplates(Body):
    """GET /v1/flow/templates: the templates learned (and reloaded at start), by exporter."""

    templates: list[TemplateInfo]


class TopHost(Body):
    address: str
    usage: Usage


class TopProtocol(Body):
    protocol: int  # IP protocol number
    name: str  # "tcp", "udp", ... or the number
    usage: Usage


class FlowTop(Body):
    """GET /v1/flow/top: the busiest hosts (as source or destination) and protocols, with
    bytes and packets scaled by each record's sampling rate."""

    by: TopMeasure
    minutes: int  # the span asked for
    covered_minutes: int  # minutes of that span with traffic counted
    hosts: list[TopHost]
    protocols: list[TopProtocol]
    other: Usage  # hosts too small to be named in their minute's summary
