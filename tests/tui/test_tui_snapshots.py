"""Snapshots of every screen at 80x24 and 120x40, from the recorded session: no engine, frozen clock.

Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`
and look at the SVGs (the report pytest-textual-snapshot writes on failure shows the difference).
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from tests.tui.conftest import frozen_clock, key, wait_for
from tests.tui.recorded import replay
from tests.tui.test_tui_live import engine_answers

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
MODES = [
    (mode, key(mode))
    for mode in ("dashboard", "buffer", "live", "traps", "windows", "forwarding", "vpn", "health", "system")
]


def offline_app(role: str | None = None, plain: bool = False) -> NocRavenApp:
    return NocRavenApp(connect=False, clock=frozen_clock, role_override=role, plain=plain)


def replayed(key: str, role: str = "admin", then: tuple[str, ...] = ()) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        replay(pilot.app, role)
        await pilot.pause()
        await pilot.press(key, *then)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("mode", "key"), MODES)
def test_screen(snap_compare: Any, mode: str, key: str, size: tuple[int, int]) -> None:
    assert snap_compare(offline_app(), terminal_size=size, run_before=replayed(key))


def test_dashboard_plain_linux_console(snap_compare: Any) -> None:
    """TERM=linux: ANSI colours and ASCII borders and sparklines."""
    assert snap_compare(offline_app(plain=True), terminal_size=(80, 24), run_before=replayed(key("dashboard")))


def test_health_plain_linux_console(snap_compare: Any) -> None:
    """The kiosk's VGA console: the Health screen's sparklines in ASCII."""
    assert snap_compare(offline_app(plain=True), terminal_size=(80, 24), run_before=replayed(key("health")))


def test_system_read_only(snap_compare: Any) -> None:
    assert snap_compare(offline_app(role="tech"), terminal_size=(80, 24), run_before=replayed(key("system")))


def test_buffer_purge_confirmation(snap_compare: Any) -> None:
    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=replayed(key("buffer"), then=("x", *"sys")))


def test_live_filtered_and_paused(snap_compare: Any) -> None:
    """A text filter runs in the engine: the screen shows what the engine's filtered stream sent."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, NocRavenApp)
        replay(app)
        await pilot.pause()
        await pilot.press(key("live"), "slash", *"core-sw2", "escape")
        await wait_for(pilot, lambda: app.state.match is not None, "the engine filter")
        engine_answers(app, grep="core-sw2")
        await pilot.pause(0.3)  # the Live screen takes new records five times a second
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)


def test_keys_float_over_the_screen(snap_compare: Any) -> None:
    assert snap_compare(
        offline_app(), terminal_size=(80, 24), run_before=replayed(key("dashboard"), then=("question_mark",))
    )


def test_engine_down(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        replay(pilot.app)
        pilot.app.post_message(messages.EngineStopping("SIGTERM"))
        pilot.app.post_message(
            messages.EngineDisconnected(
                "no engine answers on /run/nocraven/control.sock (connection refused)", retry_in=4.0
            )
        )
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)


def test_error_modal(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        replay(pilot.app)
        pilot.app.post_message(
            messages.ActionFailed(
                "purge:syslog",
                "Purge syslog",
                "forbidden",
                "POST /v1/buffer/purge needs the admin role; uid 1001 (pid 4242) has tech",
            )
        )
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=run_before)
