"""The Diagnostics screen against a real engine: ping, a refused port, cancel, the NOC check, roles.

All probes go to 127.0.0.1 only.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select

from nocraven.client import Client
from nocraven.schema import diag as wire
from nocraven_tui.app import NocRavenApp
from nocraven_tui.screens.diagnostics import DiagnosticsScreen
from tests.support.engine import RunningEngine, start_engine
from tests.tui.conftest import frozen_clock, in_thread, screen_text, wait_for, wait_for_text

pytestmark = pytest.mark.integration


def closed_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def open_diagnostics(pilot: Pilot[Any], tool: str = "ping") -> DiagnosticsScreen:
    app = pilot.app
    assert isinstance(app, NocRavenApp)
    await wait_for(pilot, lambda: app.state.connected, "the snapshot")
    await app.switch_mode("diagnostics")
    await wait_for(pilot, lambda: isinstance(app.screen, DiagnosticsScreen), "the Diagnostics screen")
    screen = app.screen
    assert isinstance(screen, DiagnosticsScreen)
    screen.query_one("#diag-tool", Select).value = tool
    await wait_for(pilot, lambda: screen.tool == tool, f"the {tool} form")
    return screen


def fill(screen: DiagnosticsScreen, **fields: str) -> None:
    for name, value in fields.items():
        screen.query_one(f"#diag-{name}", Input).value = value


def running_jobs(engine: RunningEngine) -> list[wire.DiagJob]:
    with Client(engine.socket) as client:
        return client.diag_jobs().jobs


async def test_ping_shows_replies_a_sparkline_and_the_summary(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_diagnostics(pilot)
        fill(screen, target="127.0.0.1", count="3")
        await pilot.click("#diag-run")
        text = await wait_for_text(pilot, "finished in", timeout=20)
        assert text.count("bytes from 127.0.0.1: seq=") == 3
        assert "--- 127.0.0.1 ---" in text
        assert "3 sent, 3 received, 0 % loss; rtt min/avg/max/stddev" in text
        assert "RTT " in text  # the sparkline row
        # A second run keeps the first beside it, to compare.
        await pilot.click("#diag-run")
        text = await wait_for_text(pilot, "previous run: 127.0.0.1: 3/3 replies, 0 % loss", timeout=20)
        assert "Traceback" not in text


async def test_port_check_to_a_closed_port_says_refused(shared_engine: RunningEngine) -> None:
    port = closed_port()
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_diagnostics(pilot, "port")
        fill(screen, target="127.0.0.1", port=str(port))
        screen.query_one("#diag-target", Input).focus()
        await pilot.press("enter")  # Enter in the form runs it
        text = await wait_for_text(pilot, f"127.0.0.1 port {port}/tcp: refused", timeout=15)
        assert "finished in" in text


async def test_a_bad_target_gets_the_engines_one_line(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_diagnostics(pilot)
        fill(screen, target="127.0.0.1; rm -rf /")
        screen.query_one("#diag-target", Input).focus()
        await pilot.press("enter")
        streams = app.state.streams
        await wait_for(pilot, lambda: "diag:ping" in streams and not streams["diag:ping"].running, "the refusal")
        log = app.state.streams["diag:ping"]
        assert log.code not in (None, "cancelled", "internal")
        assert "host" in log.message
        assert f"ping: {log.message[:60]}" in screen_text(app)


@pytest.mark.slow
async def test_escape_cancels_a_long_ping_in_the_engine(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_diagnostics(pilot)
        fill(screen, target="127.0.0.1", count="500")
        screen.query_one("#diag-target", Input).focus()
        await pilot.press("enter")
        await wait_for_text(pilot, "bytes from 127.0.0.1: seq=1", timeout=15)
        assert await in_thread(running_jobs, shared_engine)  # the engine runs it
        await pilot.press("escape")  # from the form, where the technician still is
        text = await wait_for_text(pilot, "cancelled: the job was stopped")
        assert "500 sent" not in text
        seen = len(app.state.streams["diag:ping"].events)
        await wait_for(pilot, lambda: not running_jobs(shared_engine), "the engine to drop the job", timeout=10)
        await pilot.pause(1.5)
        assert len(app.state.streams["diag:ping"].events) == seen  # nothing more arrives


@pytest.mark.slow
async def test_noc_check_says_pass_or_fail_for_each(tmp_path: Path) -> None:
    diag = (
        f'[diag]\ngateway = "127.0.0.1"\nnoc_target = "127.0.0.1:{closed_port()}"\n'
        f'noc_dns_name = "noc.example"\nnoc_dns_server = "127.0.0.1:{closed_port(socket.SOCK_DGRAM)}"\n'
    )
    engine = start_engine(tmp_path / "engine", diag, wait=60)
    try:
        await noc_check_in_console(engine)
    finally:
        engine.stop()


async def noc_check_in_console(engine: RunningEngine) -> None:
    app = NocRavenApp(engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_diagnostics(pilot)
        app.screen.set_focus(None)
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: (
                all(f"noc:{c}" in app.state.streams for c in ("ping", "dns", "port"))
                and not any(app.state.streams[f"noc:{c}"].running for c in ("ping", "dns", "port"))
            ),
            "the three checks to end",
            timeout=20,
        )
        text = await wait_for_text(pilot, "NOC check")
        lines = {line.split()[1]: line for line in text.splitlines() if line.strip().startswith(("PASS", "FAIL"))}
        assert "PASS" in lines["gateway"] and "127.0.0.1" in lines["gateway"]
        assert "FAIL" in lines["DNS"]
        assert "FAIL" in lines["NOC"] and "refused" in lines["NOC"]


async def test_read_only_role_cannot_run_diagnostics() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock, role_override="read")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.switch_mode("diagnostics")
        await wait_for(pilot, lambda: isinstance(app.screen, DiagnosticsScreen), "the Diagnostics screen")
        text = await wait_for_text(pilot, "this session is read-only")
        assert app.screen.query_one("#diag-run", Button).disabled
        app.screen.set_focus(None)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not app.state.streams  # nothing was started
        assert "PASS" not in text and "FAIL" not in text
