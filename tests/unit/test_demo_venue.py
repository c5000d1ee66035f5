"""The demo's simulated venue, sans-IO: what its devices send decodes as what they meant, and
the demo's config is a valid config (the embedded default plus its overrides)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

from collectors.flow.decoder import FlowDecoder
from collectors.snmptrap import ber
from nocraven import config as config_mod
from nocraven.simulate import flows, venue
from nocraven.simulate.demo import write_demo_config


def test_each_flow_exporter_datagram_decodes_to_the_flows_it_carries() -> None:
    rng = random.Random(1)
    now_ms = int(time.time() * 1000)
    sent = flows.random_flows(rng, 12, now_ms)
    decoder = FlowDecoder()
    for datagram, version in (
        (flows.netflow_v9(sent, 1, 1, now_ms, 3_600_000), 9),
        (flows.ipfix(sent, 1, 1, now_ms), 10),
        (flows.sflow(sent, "127.0.1.10", 1, 3_600_000), "sflow5"),
    ):
        records = [r for r in decoder.decode(datagram, ("127.0.1.10", 2055), time.time()) if r["kind"] == "flow"]
        assert [r["version"] for r in records] == [version] * len(sent)
        assert [(r["src_addr"], r["dst_addr"], r["dst_port"]) for r in records] == [
            (f.src, f.dst, f.dst_port) for f in sent
        ]
        if version != "sflow5":  # sFlow samples packets; it has no flow counters
            assert [r["bytes"] for r in records] == [f.bytes for f in sent]


def test_the_venue_has_a_few_dozen_devices_each_with_its_own_address_and_dialect() -> None:
    devices = venue.venue_devices()
    assert 30 <= len(devices) <= 40
    assert len({d.address for d in devices}) == len(devices)
    assert {d.dialect for d in devices} >= {venue.cisco_ios, venue.fortios, venue.aruba, venue.apc_ups}
    now = datetime.now(UTC)
    rng = random.Random(3)
    for device in devices:
        line = device.dialect(rng, now, device.name)
        assert line.startswith("<") and device.name in line


def test_traps_carry_the_link_state_and_the_ups_on_battery() -> None:
    down = venue.link_trap(random.Random(0), False, 7, 100, 1)
    on_battery = venue.ups_on_battery(30, 100, 2)
    assert ber.encode_oid(venue.LINK_DOWN) in down
    assert ber.encode_oid(f"{venue.IF_OPER}.7") + ber.encode_integer(2) in down
    assert ber.encode_oid(venue.UPS_ON_BATTERY) in on_battery


def test_the_demo_config_is_the_embedded_default_plus_https_winevents_and_a_nats_sink(tmp_path: Path) -> None:
    files = write_demo_config(tmp_path / "demo", tmp_path, tmp_path / "ctl.sock", "nats://127.0.0.1:4999", True)
    config = config_mod.load(files.config)
    default = config_mod.embedded_default()
    assert config.buffer == default.buffer
    assert config.syslog.udp == "127.0.0.1:0"
    assert config.winevents.tls_cert == str(files.cert)
    assert files.token in str(config.winevents.tokens)
    assert [s.urls for s in config.forward.sinks] == [["nats://127.0.0.1:4999"]]
    assert (tmp_path / "demo" / "winevents.key").stat().st_mode & 0o777 == 0o600
