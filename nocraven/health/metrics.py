"""Prometheus text for the NOC, from what the engine already knows: names by the Prometheus
conventions (`nocraven_` prefix, base units, `_total` counters). Pure: inputs in, text out.

Collectors, the forwarder and the VPN are read from their status details; a component whose
detail does not have the shape (or that this build lacks) is skipped, not an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nocraven.schema.base import ComponentState
from nocraven.schema.buffer import BufferStats
from nocraven.schema.collector import CollectorStatus
from nocraven.schema.engine import ComponentStatus
from nocraven.schema.health import Alert, SystemSample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Sink(msgspec.Struct, kw_only=True):
    """The fields of a forward sink's status this reads (see nocraven.forward.SinkStatus)."""

    name: str
    state: str = ""
    delivered_records: int = 0
    backlog_records: int = 0
    backlog_bytes: int = 0
    oldest_age_s: float | None = None


class _ForwardDetail(msgspec.Struct, kw_only=True):
    sinks: list[_Sink]


class _VpnDetail(msgspec.Struct, kw_only=True):
    connected: bool
    profile: str | None = None


def _detail(status: ComponentStatus, tp: type[msgspec.Struct]) -> msgspec.Struct | None:
    try:
        return status.detail_as(tp)
    except msgspec.ValidationError:
        return None


@dataclass(frozen=True)
class MetricsInput:
    components: Mapping[str, ComponentStatus]
    system: SystemSample | None = None
    buffer: BufferStats | None = None
    active: tuple[Alert, ...] = ()


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def component_metrics(components: Mapping[str, ComponentStatus]) -> Iterator[Metric]:
    up = _gauge("nocraven_component_up", "1 when the component runs", ["component"])
    restarts = _counter("nocraven_component_restarts", "Restarts after a crash", ["component"])
    for name, status in components.items():
        up.add_metric([name], 1.0 if status.state == ComponentState.RUNNING else 0.0)
        restarts.add_metric([name], status.restarts)
    yield from (up, restarts)

    received = _counter("nocraven_collector_received_messages", "Messages accepted", ["collector"])
    received_bytes = _counter("nocraven_collector_received_bytes", "Bytes of accepted messages", ["collector"])
    rejected = _counter("nocraven_collector_rejected_messages", "Messages rejected (undecodable)", ["collector"])
    dropped = _counter(
        "nocraven_collector_kernel_dropped_messages",
        "Datagrams the kernel dropped (receive buffer full)",
        ["collector"],
    )
    framing = _counter("nocraven_collector_framing_errors", "Stream framing errors", ["collector"])
    stored = _counter("nocraven_collector_stored_records", "Records the buffer took", ["collector"])
    for name, status in components.items():
        collector = _detail(status, CollectorStatus)
        if not isinstance(collector, CollectorStatus):
            continue
        t = collector.totals
        received.add_metric([name], t.messages)
        received_bytes.add_metric([name], t.bytes)
        rejected.add_metric([name], t.rejected)
        dropped.add_metric([name], t.kernel_drops)
        framing.add_metric([name], t.framing_errors)
        stored.add_metric([name], t.records_stored)
    yield from (received, received_bytes, rejected, dropped, framing, stored)

    forward = components.get("forward")
    detail = _detail(forward, _ForwardDetail) if forward is not None else None
    if isinstance(detail, _ForwardDetail):
        sent = _counter("nocraven_forward_sent_records", "Records delivered to the sink", ["sink"])
        backlog = _gauge("nocraven_forward_backlog_records", "Records waiting for the sink", ["sink"])
        backlog_bytes = _gauge("nocraven_forward_backlog_bytes", "Bytes waiting for the sink", ["sink"])
        lag = _gauge("nocraven_forward_lag_seconds", "Age of the oldest record not yet delivered", ["sink"])
        for sink in detail.sinks:
            sent.add_metric([sink.name], sink.delivered_records)
            backlog.add_metric([sink.name], sink.backlog_records)
            backlog_bytes.add_metric([sink.name], sink.backlog_bytes)
            lag.add_metric([sink.name], sink.oldest_age_s or 0.0)
        yield from (sent, backlog, backlog_bytes, lag)

    vpn = components.get("vpn")
    vpn_detail = _detail(vpn, _VpnDetail) if vpn is not None else None
    if isinstance(vpn_detail, _VpnDetail):
        state = _gauge("nocraven_vpn_up", "1 when a tunnel is up")
        state.add_metric([], 1.0 if vpn_detail.connected else 0.0)
        yield state


def buffer_metrics(stats: BufferStats) -> Iterator[Metric]:
    records = _gauge("nocraven_buffer_records", "Records kept", ["service"])
    stored = _gauge("nocraven_buffer_stored_bytes", "Bytes on disk (compressed)", ["service"])
    raw = _gauge("nocraven_buffer_raw_bytes", "Bytes of the records before compression", ["service"])
    drops = _counter("nocraven_buffer_dropped_records", "Records dropped", ["service", "reason"])
    drop_bytes = _counter("nocraven_buffer_dropped_bytes", "Bytes dropped", ["service", "reason"])
    for service, s in stats.services.items():
        records.add_metric([service], s.records)
        stored.add_metric([service], s.stored_bytes)
        raw.add_metric([service], s.raw_bytes)
        for reason, count in s.dropped_by_reason.items():
            drops.add_metric([service, reason], count.records)
            drop_bytes.add_metric([service, reason], count.bytes)
    budget = _gauge("nocraven_buffer_budget_bytes", "Bytes the buffer may use now")
    budget.add_metric([], stats.total.effective_budget_bytes)
    fill = _gauge("nocraven_buffer_fill_ratio", "Stored bytes over the budget (0-1)")
    fill.add_metric([], stats.total.fill_percent / 100.0)
    failing = _gauge("nocraven_buffer_storage_failing", "1 when the buffer cannot write")
    failing.add_metric([], 1.0 if stats.total.storage_failing else 0.0)
    yield from (records, stored, raw, drops, drop_bytes, budget, fill, failing)


def system_metrics(s: SystemSample) -> Iterator[Metric]:
    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        g = _gauge(name, doc)
        g.add_metric([], value)
        return g

    yield gauge("nocraven_cpu_usage_ratio", "CPU busy over the last interval (0-1)", s.cpu_percent / 100.0)
    yield gauge("nocraven_cpu_count", "Logical CPUs", s.cpu_count)
    load = _gauge("nocraven_load_average", "Load average", ["period"])
    for period, value in (("1m", s.load1), ("5m", s.load5), ("15m", s.load15)):
        load.add_metric([period], value)
    yield load
    yield gauge("nocraven_memory_total_bytes", "Physical memory", s.memory_total_bytes)
    yield gauge("nocraven_memory_available_bytes", "Memory available without swapping", s.memory_available_bytes)
    for name, doc, value in (
        ("nocraven_disk_total_bytes", "Size of the data dir's filesystem", s.disk_total_bytes),
        ("nocraven_disk_free_bytes", "Free bytes on the data dir's filesystem", s.disk_free_bytes),
        ("nocraven_disk_inodes_total", "Inodes of the data dir's filesystem", s.inodes_total),
        ("nocraven_disk_inodes_free", "Free inodes of the data dir's filesystem", s.inodes_free),
    ):
        g = _gauge(name, doc, ["path"])
        g.add_metric([s.disk_path], value)
        yield g
    families = {
        "receive_bytes": ("Bytes received", "bytes_recv"),
        "transmit_bytes": ("Bytes sent", "bytes_sent"),
        "receive_errors": ("Receive errors", "errors_in"),
        "transmit_errors": ("Transmit errors", "errors_out"),
        "receive_drops": ("Received packets dropped", "drops_in"),
        "transmit_drops": ("Outgoing packets dropped", "drops_out"),
    }
    for suffix, (doc, field) in families.items():
        c = _counter(f"nocraven_network_{suffix}", doc, ["interface"])
        for name, counters in s.interfaces.items():
            c.add_metric([name], getattr(counters, field))
        yield c
    yield gauge("nocraven_process_resident_memory_bytes", "The engine's resident memory", s.process_rss_bytes)
    yield gauge("nocraven_process_open_fds", "The engine's open file descriptors", s.process_open_files)


def alert_metrics(active: tuple[Alert, ...]) -> Iterator[Metric]:
    alerts = _gauge("nocraven_health_alerts", "Active alerts", ["severity"])
    for severity in ("warning", "critical"):
        alerts.add_metric([severity], sum(1 for a in active if a.severity == severity))
    yield alerts


class _Snapshot(Collector):
    def __init__(self, data: MetricsInput) -> None:
        self.data = data

    def collect(self) -> Iterator[Metric]:
        yield from component_metrics(self.data.components)
        if self.data.buffer is not None:
            yield from buffer_metrics(self.data.buffer)
        if self.data.system is not None:
            yield from system_metrics(self.data.system)
        yield from alert_metrics(self.data.active)


def render(data: MetricsInput) -> str:
    """The Prometheus text exposition of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(data))
    return generate_latest(registry).decode("utf-8")
