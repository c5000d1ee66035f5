"""`nocraven health` through the real entry point against a real engine: the three formats, the
Prometheus text of /v1/health/metrics and of the `metrics_listen` endpoint parsed with
prometheus_client's parser, and exit 1 on a critical alert."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nocraven.client import Client
from tests.support.engine import RunningEngine, start_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# A shared test machine can peg its CPUs: an hour's hold keeps this engine free of alerts.
CALM = """
[health]
interval_s = 1
hold_s = 3600
metrics_listen = "127.0.0.1:0"
"""
# Any running box uses more than 2 % of its memory: a critical alert on the first sample.
ALARMED = """
[health]
interval_s = 1
hold_s = 0
memory_warning_percent = 1
memory_critical_percent = 2
"""
DOCUMENTED = {
    "nocraven_component_up",
    "nocraven_collector_received_messages",
    "nocraven_collector_rejected_messages",
    "nocraven_collector_kernel_dropped_messages",
    "nocraven_buffer_records",
    "nocraven_buffer_stored_bytes",
    "nocraven_buffer_fill_ratio",
    "nocraven_cpu_usage_ratio",
    "nocraven_memory_available_bytes",
    "nocraven_disk_free_bytes",
    "nocraven_network_receive_bytes",
    "nocraven_process_resident_memory_bytes",
    "nocraven_health_alerts",
}


def sampled(engine: RunningEngine) -> dict[str, object]:
    """The health report once the first sample (with the buffer's figures) is in."""
    deadline = time.monotonic() + 30
    while True:
        result = engine.cli("health", "--format", "json")
        report = json.loads(result.stdout)
        if report["system"] is not None and report["buffer_fill_percent"] is not None:
            return report  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, result.stdout
        time.sleep(0.3)


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("health-calm") / "engine", CALM, wait=60)
    sampled(running)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def alarmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("health-alarmed") / "engine", ALARMED, wait=60)
    yield running
    running.stop()


def families(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_json_reports_resources_components_and_no_alert(calm: RunningEngine) -> None:
    result = calm.cli("health", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "ok" and report["active"] == []
    assert report["components"]["buffer"] == "running" and report["components"]["health"] == "running"
    system = report["system"]
    assert system["disk_path"].startswith(str(calm.directory))
    assert system["disk_total_bytes"] > 0 and system["process_rss_bytes"] > 0 and system["process_open_files"] > 0
    assert "lo" in system["interfaces"]
    assert any(lst["service"] == "health" and lst["listener"] == "metrics" for lst in report["listeners"])


def test_text_is_for_people(calm: RunningEngine) -> None:
    result = calm.cli("health")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "health: ok"
    assert any(line.startswith("data disk") and "free of" in line for line in lines)
    states = json.loads(calm.cli("health", "--format", "json").stdout)["components"]
    (components,) = [line for line in lines if line.startswith("components: ")]
    waiting = [name for name, state in states.items() if state != "running"]
    assert all(name in components for name in waiting) if waiting else components == "components: all running"
    assert lines[-1] == "no active alert"


def test_prometheus_format_and_the_api_path_parse_with_the_documented_names(calm: RunningEngine) -> None:
    result = calm.cli("health", "--format", "prometheus")
    assert result.returncode == 0, result.stderr
    assert set(families(result.stdout)) >= DOCUMENTED
    assert families(result.stdout)["nocraven_collector_received_messages"] == "counter"
    with Client(calm.socket) as client:
        api_text = client.health_metrics()
    parsed = {f.name: f for f in text_string_to_metric_families(api_text)}
    assert set(parsed) >= DOCUMENTED
    up = {s.labels["component"]: s.value for s in parsed["nocraven_component_up"].samples}
    assert up["syslog"] == 1 and up["health"] == 1


def test_metrics_listen_serves_the_same_names_for_the_noc(calm: RunningEngine) -> None:
    report = sampled(calm)
    listeners = report["listeners"]
    assert isinstance(listeners, list)
    address = next(lst["address"] for lst in listeners if lst["listener"] == "metrics")
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    assert set(families(text)) >= DOCUMENTED


def test_a_bad_format_is_a_usage_error(calm: RunningEngine) -> None:
    result = calm.cli("health", "--format", "yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "nocraven: --format 'yaml': use one of text, json, prometheus"


def test_a_critical_alert_exits_1_in_every_format(alarmed: RunningEngine) -> None:
    deadline = time.monotonic() + 30
    while True:
        report = json.loads(alarmed.cli("health", "--format", "json").stdout)
        if report["active"]:
            break
        assert time.monotonic() < deadline, report
        time.sleep(0.3)
    assert report["status"] == "critical"
    (alert,) = [a for a in report["active"] if a["metric"] == "memory"]  # a busy CI box may add CPU
    assert alert["metric"] == "memory" and alert["severity"] == "critical"
    assert alert["message"].startswith("memory at ") and alert["message"].endswith("(critical above 2 %)")
    assert "memory" in {a["metric"] for a in report["history"]}
    for fmt in ("text", "json", "prometheus"):
        result = alarmed.cli("health", "--format", fmt)
        assert result.returncode == 1, (fmt, result.stderr)
    text = alarmed.cli("health").stdout
    assert text.splitlines()[0] == "health: critical"
    assert "critical since" in text and "memory at" in text
    prometheus = alarmed.cli("health", "--format", "prometheus").stdout
    alerts = next(f for f in text_string_to_metric_families(prometheus) if f.name == "nocraven_health_alerts")
    assert {s.labels["severity"]: s.value for s in alerts.samples}["critical"] >= 1  # memory (and CPU if busy)
