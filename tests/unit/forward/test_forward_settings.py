"""The [forward] section: keys exactly as documented, refused values say which key and why."""

from __future__ import annotations

from typing import Any

from nocraven.config.walker import build
from nocraven.forward.settings import ForwardSettings

SERVICES = ("syslog", "flow", "trap", "poll", "winevent")


def load(table: dict[str, Any]) -> tuple[ForwardSettings, list[str]]:
    problems: list[str] = []
    settings = build(ForwardSettings, table, "forward", problems)
    if not problems:
        problems = settings.cross_checks(SERVICES)
    return settings, problems


def test_the_documented_example_is_valid() -> None:
    settings, problems = load(
        {
            "site": "arena-01",
            "sinks": [
                {
                    "name": "noc",
                    "type": "nats",
                    "urls": ["nats://10.8.0.1:4222"],
                    "subject": "nocraven.{site}.{service}",
                    "services": ["syslog", "flow", "trap", "winevent"],
                    "requires_vpn": True,
                    "max_bytes_per_s": 0,
                }
            ],
        }
    )
    assert problems == []
    sink = settings.sinks[0]
    assert sink.requires_vpn and sink.encoding == "zstd" and sink.stream == "NOCRAVEN"
    assert sink.forwarded(SERVICES) == ("syslog", "flow", "trap", "winevent")


def test_each_type_takes_what_it_needs() -> None:
    settings, problems = load(
        {
            "site": "arena-01",
            "sinks": [
                {
                    "name": "gw",
                    "type": "http",
                    "urls": ["https://noc.example/ingest"],
                    "headers": {"Authorization": "Bearer x"},
                    "tls_ca": "/etc/nocraven/noc-ca.pem",
                },
                {"name": "central", "type": "syslog", "urls": ["tls://10.8.0.5:6514"], "tls_ca": "/ca.pem"},
            ],
        }
    )
    assert problems == []
    assert settings.sinks[0].encoding == "gzip"
    assert settings.sinks[1].forwarded(SERVICES) == ("syslog",)


def test_refusals_name_the_key() -> None:
    _, problems = load({"site": "arena 01", "sinks": [{"name": "noc", "type": "kafka"}]})
    assert any(p.startswith("forward.site") for p in problems)
    assert any("forward.sinks" in p and "type" in p and "kafka" in p for p in problems)
    _, problems = load(
        {
            "site": "arena-01",
            "sinks": [
                {"name": "noc", "type": "nats", "urls": ["http://10.8.0.1"], "services": ["mail"]},
                {"name": "noc", "type": "syslog", "urls": ["tls://10.8.0.5"]},
                {"name": "x", "type": "nats", "urls": ["nats://a:1"], "subject": "noc.{site}", "tls_cert": "c.pem"},
            ],
        }
    )
    text = "\n".join(problems)
    assert "forward.sinks[0].urls: 'http://10.8.0.1': a nats sink takes nats:// or tls:// URLs" in text
    assert "forward.sinks[0].services: unknown service 'mail'" in text
    assert "forward.sinks[1].name = 'noc': two sinks have this name" in text
    assert "forward.sinks[1].urls: 'tls://10.8.0.5': give the port" in text
    assert "forward.sinks[2].subject" in text and "tls_cert and tls_key" in text
    _, problems = load({"sinks": [{"name": "noc", "urls": ["nats://10.8.0.1:4222"]}]})
    assert problems == ["forward.site: set this appliance's name (e.g. 'arena-01') to forward to the NOC"]


def test_no_sinks_is_a_valid_forward_section() -> None:
    settings, problems = load({})
    assert problems == [] and settings.sinks == []


def test_stored_blob_compression_is_for_nats_sinks_only() -> None:
    settings, problems = load(
        {"site": "arena-01", "sinks": [{"name": "noc", "urls": ["nats://10.8.0.1:4222"], "compression": "zstd-dict"}]}
    )
    assert problems == [] and settings.sinks[0].encoding == "zstd-dict"
    _, problems = load(
        {
            "site": "arena-01",
            "sinks": [
                {"name": "gw", "type": "http", "urls": ["https://noc.example/ingest"], "compression": "zstd-dict"}
            ],
        }
    )
    assert problems == [
        "forward.sinks[0].compression = 'zstd-dict': only a nats sink sends dictionaries; use 'zstd' for http"
    ]
