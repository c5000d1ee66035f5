"""What the VPN component tells the rest of the engine: every connect and drop the supervisor
reports becomes one `vpn.state_changed` (profile, connected, reason), retained on the bus so a
component subscribing late (the forwarder after its own restart) hears the current state at once;
and the events reach watch clients as their typed Structs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nocraven.api.watch import encode_published
from nocraven.client import decode_published
from nocraven.config import Config, VpnSettings
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.schema.base import ComponentState
from nocraven.schema.events import ComponentStateChanged, Event, Published
from nocraven.schema.vpn import (
    TunnelState,
    VpnConnected,
    VpnConnecting,
    VpnDisconnected,
    VpnProbed,
    VpnStateChanged,
)
from nocraven.vpn.component import VpnComponent

SYSLOG_UP = ComponentStateChanged(component="syslog", state=ComponentState.RUNNING, previous=ComponentState.STARTING)


def component(tmp_path: Path, enabled: bool = True) -> tuple[VpnComponent, EventBus]:
    config = Config()
    config = dataclasses.replace(
        config, engine=dataclasses.replace(config.engine, data_dir=tmp_path), vpn=VpnSettings(enabled=enabled)
    )
    bus = EventBus()
    return VpnComponent(EngineContext(config=config, bus=bus)), bus


def states(batch: list[Published]) -> list[tuple[str | None, bool, str]]:
    found = []
    for published in batch:
        event = published.event
        if isinstance(event, VpnStateChanged):
            found.append((event.profile, event.connected, event.state.value))
    return found


async def test_each_connect_and_drop_becomes_a_state_change(tmp_path: Path) -> None:
    vpn, bus = component(tmp_path)
    everything = bus.subscribe()
    vpn._on_event(VpnConnecting(profile="noc-a", reason="noc-a is the preferred profile available"))
    vpn._on_event(VpnConnected(profile="noc-a", remote="192.0.2.1:1194", local_ip="10.8.0.2"))
    vpn._on_event(VpnProbed(profile="noc-a", ok=True, latency_ms=12.5))
    vpn._on_event(VpnDisconnected(profile="noc-a", reason="no packet from the server within the ping-restart time"))
    batch = await everything.next_batch()
    kinds = [p.event.kind for p in batch]
    # The supervisor's own events go out as they are, each followed by the state it amounts to.
    assert kinds == [
        "vpn.connecting",
        "vpn.state_changed",
        "vpn.connected",
        "vpn.state_changed",
        "vpn.probed",
        "vpn.disconnected",
        "vpn.state_changed",
    ]
    assert states(batch) == [
        ("noc-a", False, "connecting"),
        ("noc-a", True, "connected"),
        ("noc-a", False, "disconnected"),
    ]
    last = batch[-1].event
    assert isinstance(last, VpnStateChanged) and "ping-restart" in last.reason


async def test_a_late_subscriber_hears_the_current_state_at_once(tmp_path: Path) -> None:
    vpn, bus = component(tmp_path)
    vpn._on_event(VpnConnecting(profile="noc-a", reason="preferred"))
    vpn._on_event(VpnConnected(profile="noc-a", remote="192.0.2.1:1194"))
    bus.publish(SYSLOG_UP)

    forwarder = bus.subscribe(kinds={"vpn.state_changed"})
    first = await forwarder.next_batch()
    assert states(first) == [("noc-a", True, "connected")]  # only the latest, only its kind

    vpn._on_event(VpnDisconnected(profile="noc-a", reason="server down"))
    assert states(await forwarder.next_batch()) == [("noc-a", False, "disconnected")]
    # Watchers (all kinds) read the state from their snapshot, not from a replay.
    watcher = bus.subscribe()
    bus.publish(SYSLOG_UP)
    assert [p.event.kind for p in await watcher.next_batch()] == ["component.state_changed"]


async def test_status_before_start_and_when_disabled(tmp_path: Path) -> None:
    vpn, _ = component(tmp_path, enabled=False)
    status = vpn.status()
    assert status.enabled is False and status.connected is False and status.profiles == 0
    assert vpn.routes() and all(route.path.startswith("/v1/vpn/") for route in vpn.routes())


def test_vpn_events_decode_on_the_client_as_their_structs() -> None:
    events: list[Event] = [
        VpnStateChanged(
            profile="noc-a", connected=True, reason="connected to 192.0.2.1:1194", state=TunnelState.CONNECTED
        ),
        VpnStateChanged(profile=None, connected=False, reason="the VPN manager started"),
        VpnProbed(profile="noc-a", ok=False, loss_percent=100.0),
    ]
    for seq, event in enumerate(events, 1):
        line = encode_published(Published(seq=seq, at=1.0, event=event))
        decoded = decode_published(line.strip())
        assert decoded.event == event and type(decoded.event) is type(event)
