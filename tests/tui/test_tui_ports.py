"""The Ports screen: the registry from a real engine, a change validated as it is typed, then
moved through the confirmation; a tech user sees the table read-only and is told why."""

from __future__ import annotations

import socket
from pathlib import Path

from textual.widgets import Button, DataTable, Input

from nocraven_tui.app import NocRavenApp
from nocraven_tui.screens.ports import PORTS, PortsScreen
from tests.support.engine import RunningEngine
from tests.tui.conftest import frozen_clock, key, screen_text, wait_for, wait_for_text


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_tech_user_sees_the_ports_read_only_and_why() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock, role_override="tech")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.switch_mode("ports")
        await wait_for(pilot, lambda: isinstance(app.screen, PortsScreen), "the Ports screen", timeout=30)
        text = await wait_for_text(pilot, "Read-only")
        assert "changing a port needs the admin role (you are tech)" in text
        assert not app.screen.query_one("#ports-form").display  # no listener/address inputs, no Apply
        assert not app.screen.query_one("#ports-validation").display
        assert "Apply" not in text


async def test_admin_moves_syslog_udp_after_seeing_the_validation(shared_engine: RunningEngine, tmp_path: Path) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot", timeout=30)
        await pilot.press(key("ports"))  # as a technician goes there: the console's prewarm gives way
        await wait_for(pilot, lambda: isinstance(app.screen, PortsScreen), "the Ports screen", timeout=30)
        await wait_for(pilot, lambda: app.state.value(PORTS) is not None, "the ports", timeout=30)
        data = app.state.value(PORTS)
        assert data is not None
        udp = next(e for e in data.ports if e.name == "syslog.udp")
        tcp = next(e for e in data.ports if e.name == "syslog.tcp")
        table = app.screen.query_one("#ports-table", DataTable)
        assert "syslog.udp" in [str(k.value) for k in table.rows]
        assert udp.state == "listening"
        # Picking the row fills the listener; a bad address is refused as it is typed.
        listener = app.screen.query_one("#ports-listener", Input)
        listener.value = "syslog.udp"
        address = app.screen.query_one("#ports-address", Input)
        address.value = "127.0.0.1:99999"
        assert "out of range" in await wait_for_text(pilot, "out of range")
        address.value = udp.address
        await wait_for_text(pilot, "already listens")
        listener.value = "syslog.tcp"
        address.value = tcp.address
        await wait_for_text(pilot, "syslog.tcp already listens")
        address.value = udp.address  # UDP's port is free for TCP
        await wait_for_text(pilot, f"looks valid: syslog.tcp -> {udp.address}")
        listener.value = "syslog.udp"
        new = f"127.0.0.1:{free_udp_port()}"
        address.value = new
        await wait_for_text(pilot, f"looks valid: syslog.udp -> {new}")
        app.screen.query_one("#ports-apply", Button).press()
        await wait_for_text(pilot, f"Move syslog.udp to {new}?")
        await pilot.click("#confirm")
        await wait_for_text(pilot, f"syslog.udp now listens on {new}", timeout=30)

        def moved() -> bool:
            current = app.state.value(PORTS)
            return current is not None and any(e.name == "syslog.udp" and e.address == new for e in current.ports)

        await wait_for(pilot, moved, "the new address in the table", timeout=15)
        assert "saved to" in screen_text(app)
