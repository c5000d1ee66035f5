"""The Prometheus text, parsed with prometheus_client's own parser: documented names, base units,
`_total` counters, per-collector and per-reason labels; components that lack the expected detail
(no forwarder, no VPN in this build) are skipped rather than failing the scrape."""

from __future__ import annotations

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from collectors.common.frames import ListenerCounters
from nocraven.health.metrics import MetricsInput, render
from nocraven.schema.base import ComponentState
from nocraven.schema.buffer import BufferStats, DropCount, ServiceStats, TotalStats
from nocraven.schema.collector import CollectorStatus, CollectorSummary, ListenerStatus
from nocraven.schema.engine import ComponentStatus
from nocraven.schema.health import Alert, InterfaceCounters, SystemSample


def status(detail: object, state: ComponentState = ComponentState.RUNNING, restarts: int = 0) -> ComponentStatus:
    return ComponentStatus(state=state, restarts=restarts, detail=msgspec.Raw(msgspec.json.encode(detail)))


def syslog_status() -> CollectorStatus:
    totals = CollectorSummary(
        messages=1200,
        bytes=96_000,
        rejected=7,
        kernel_drops=3,
        framing_errors=2,
        rate_mps=10.0,
        sources=4,
        records_stored=1190,
        lost_without_buffer=0,
    )
    listener = ListenerStatus(listener="udp", proto="udp", address="127.0.0.1:514", counters=ListenerCounters())
    return CollectorStatus(listeners=[listener], totals=totals, sources={})


def buffer_stats() -> BufferStats:
    drops = {"quota": DropCount(records=40, bytes=4000), "disk_full": DropCount(records=2, bytes=300)}
    service = ServiceStats(
        records=5000,
        raw_bytes=500_000,
        stored_bytes=100_000,
        segments=3,
        oldest=None,
        newest=None,
        unsealed_records=0,
        dropped_records=42,
        dropped_bytes=4300,
        dropped_by_reason=drops,
        quota_bytes=10**9,
        fair_share_bytes=10**9,
        ingest_records_per_s=1.0,
        forecast_days=None,
    )
    total = TotalStats(
        records=5000,
        raw_bytes=500_000,
        stored_bytes=100_000,
        segments=3,
        unsealed_records=0,
        budget_bytes=10**9,
        effective_budget_bytes=400_000,
        fill_percent=25.0,
        disk_free_bytes=10**10,
        disk_limited=False,
        storage_failing=False,
        quarantined_segments=0,
        compression_ratio=5.0,
        ingest_records_per_s=1.0,
        dropped_by_reason=drops,
    )
    return BufferStats(services={"syslog": service}, total=total, forecast_days=None)


def system_sample() -> SystemSample:
    return SystemSample(
        at=0.0,
        cpu_percent=50.0,
        cpu_count=2,
        load1=0.5,
        load5=0.4,
        load15=0.3,
        memory_total_bytes=4 * 2**30,
        memory_available_bytes=2**30,
        memory_percent=75.0,
        disk_path="/var/lib/nocraven",
        disk_total_bytes=100 * 2**30,
        disk_used_bytes=40 * 2**30,
        disk_free_bytes=60 * 2**30,
        disk_percent=40.0,
        inodes_total=1000,
        inodes_free=900,
        inodes_percent=10.0,
        interfaces={"eth0": InterfaceCounters(bytes_recv=10, bytes_sent=20, errors_in=1, drops_in=5)},
        process_rss_bytes=80 * 2**20,
        process_open_files=42,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_every_documented_name_with_its_value_and_type() -> None:
    alert = Alert(metric="disk", severity="critical", message="x", value=96.0, raised_at=1.0)
    text = render(
        MetricsInput(
            components={
                "buffer": status({"records": 1}),
                "syslog": status(syslog_status(), restarts=2),
                "diag": status({}, ComponentState.FAILED),
            },
            system=system_sample(),
            buffer=buffer_stats(),
            active=(alert,),
        )
    )
    got = samples(text)
    syslog = (("collector", "syslog"),)
    assert got[("nocraven_collector_received_messages_total", syslog)] == 1200
    assert got[("nocraven_collector_received_bytes_total", syslog)] == 96_000
    assert got[("nocraven_collector_rejected_messages_total", syslog)] == 7
    assert got[("nocraven_collector_kernel_dropped_messages_total", syslog)] == 3
    assert got[("nocraven_collector_stored_records_total", syslog)] == 1190
    # only syslog's detail is a collector's
    assert {labels for name, labels in got if name == "nocraven_collector_received_messages_total"} == {syslog}
    assert got[("nocraven_component_up", (("component", "syslog"),))] == 1
    assert got[("nocraven_component_up", (("component", "diag"),))] == 0
    assert got[("nocraven_component_restarts_total", (("component", "syslog"),))] == 2
    assert got[("nocraven_buffer_records", (("service", "syslog"),))] == 5000
    assert got[("nocraven_buffer_stored_bytes", (("service", "syslog"),))] == 100_000
    assert got[("nocraven_buffer_dropped_records_total", (("reason", "quota"), ("service", "syslog")))] == 40
    assert got[("nocraven_buffer_dropped_bytes_total", (("reason", "disk_full"), ("service", "syslog")))] == 300
    assert got[("nocraven_buffer_fill_ratio", ())] == 0.25
    assert got[("nocraven_buffer_budget_bytes", ())] == 400_000
    assert got[("nocraven_cpu_usage_ratio", ())] == 0.5
    assert got[("nocraven_load_average", (("period", "1m"),))] == 0.5
    assert got[("nocraven_memory_available_bytes", ())] == 2**30
    assert got[("nocraven_disk_free_bytes", (("path", "/var/lib/nocraven"),))] == 60 * 2**30
    assert got[("nocraven_disk_inodes_free", (("path", "/var/lib/nocraven"),))] == 900
    assert got[("nocraven_network_receive_drops_total", (("interface", "eth0"),))] == 5
    assert got[("nocraven_network_transmit_bytes_total", (("interface", "eth0"),))] == 20
    assert got[("nocraven_process_resident_memory_bytes", ())] == 80 * 2**20
    assert got[("nocraven_process_open_fds", ())] == 42
    assert got[("nocraven_health_alerts", (("severity", "critical"),))] == 1
    assert got[("nocraven_health_alerts", (("severity", "warning"),))] == 0
    kinds = types(text)
    assert kinds["nocraven_collector_received_messages"] == "counter"
    assert kinds["nocraven_buffer_records"] == "gauge"
    assert all(name.startswith("nocraven_") for name in kinds)
    # no forwarder and no VPN in this engine: their families are absent, not zero
    assert not any(name.startswith(("nocraven_forward_", "nocraven_vpn_")) for name in kinds)


def test_forwarder_and_vpn_details_become_their_metrics() -> None:
    sink = {
        "name": "noc",
        "type": "http",
        "state": "delivering",
        "delivered_records": 900,
        "backlog_records": 12,
        "backlog_bytes": 3400,
        "oldest_age_s": 2.5,
    }
    text = render(
        MetricsInput(
            components={
                "forward": status({"sinks": [sink]}),
                "vpn": status({"connected": True, "profile": "primary"}),
            }
        )
    )
    got = samples(text)
    noc = (("sink", "noc"),)
    assert got[("nocraven_forward_sent_records_total", noc)] == 900
    assert got[("nocraven_forward_backlog_records", noc)] == 12
    assert got[("nocraven_forward_backlog_bytes", noc)] == 3400
    assert got[("nocraven_forward_lag_seconds", noc)] == 2.5
    assert got[("nocraven_vpn_up", ())] == 1


def test_a_forward_component_without_the_expected_detail_is_skipped() -> None:
    text = render(MetricsInput(components={"forward": status({"something": "else"}), "vpn": status({})}))
    assert not any(name.startswith(("nocraven_forward_", "nocraven_vpn_")) for name in types(text))
    assert ("nocraven_component_up", (("component", "forward"),)) in samples(text)
