"""Pilot tests against a real engine on a temp socket: real numbers, restarts, roles, errors."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import Button, DataTable, Input

from nocraven.api.wire import to_plain
from nocraven.client import Client
from nocraven.humanize import human_duration
from nocraven.schema.buffer import BufferStats, Purged
from nocraven.schema.engine import BundleWritten, SystemInfo
from nocraven.schema.vpn import VpnStatus
from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import BUFFER_STATS
from nocraven_tui.screens.buffer import purge
from nocraven_tui.screens.system import SYSTEM
from nocraven_tui.screens.vpn import VPN_STATUS
from nocraven_tui.widgets.error import ErrorModal
from tests.support.engine import RunningEngine, start_engine
from tests.support.vpn_pki import client_profile, make_pki
from tests.support.vpn_servers import free_udp_port
from tests.tui.conftest import in_thread, key, screen_text, wait_for, wait_for_text


def engine_status(socket: Path) -> dict[str, Any]:
    with Client(socket) as client:
        return to_plain(client.status())


async def test_dashboard_shows_the_engine(shared_engine: RunningEngine) -> None:
    status = engine_status(shared_engine.socket)
    seen: list[Message] = []
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        text = await wait_for_text(pilot, f"engine {status['version']}")
        assert status["hostname"] in text
        assert "engine up" in text
        assert app.state.role == "admin"  # root talks to the engine here
        assert any(isinstance(m, messages.EngineConnected) for m in seen)
        assert any(isinstance(m, messages.SnapshotReceived) for m in seen)
        # Every component the engine reports has a row, in the engine's words.
        table = app.screen.query_one("#components", DataTable)
        assert {str(key.value) for key in table.rows} == set(status["components"])
        for name, comp in status["components"].items():
            assert name in text
            if comp["state"] == "not_available":
                assert str(table.get_row(name)[1]) == "not available"
        # Collectors that are not in this build say so instead of showing an error.
        for name, title in (("syslog", "Syslog"), ("flow", "Flows")):
            panel = app.screen.query_one(f"#spark-{name}")
            if status["components"][name]["state"] == "not_available":
                assert "not available" in str(panel.render())
            assert title in text
        assert "Traceback" not in text


async def test_every_mode_renders_with_engine_data(shared_engine: RunningEngine) -> None:
    status = engine_status(shared_engine.socket)
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")

        await pilot.press("2")
        await wait_for(pilot, lambda: app.state.outcome(BUFFER_STATS).at is not None, "buffer stats answer")
        text = await wait_for_text(pilot, "Buffer")
        stats = app.state.value(BUFFER_STATS)
        if app.state.outcome(BUFFER_STATS).not_available:
            assert "Buffer: not available" in text
        else:
            assert isinstance(stats, BufferStats)
            assert f"{stats.total.records:,} records" in text

        await pilot.press("3")
        text = await wait_for_text(pilot, "following")
        assert "sampled" in text  # unfiltered, the view says that it samples

        await pilot.press(key("traps"))
        text = await wait_for_text(pilot, "Trap receiver")
        assert "not listening" in text  # the shared engine's receiver is off (snmptrap.udp = "")

        await pilot.press(key("vpn"))
        await wait_for(pilot, lambda: isinstance(app.state.value(VPN_STATUS), VpnStatus), "vpn status answer")
        text = await wait_for_text(pilot, "selection automatic")  # no profiles yet: idle, automatic
        assert "idle" in text and "Profiles" in text and "History" in text

        await pilot.press(key("system"))
        await wait_for(pilot, lambda: isinstance(app.state.value(SYSTEM), SystemInfo), "system answer")
        text = await wait_for_text(pilot, "Interfaces")
        assert status["version"] in text
        assert status["hostname"] in text
        assert "lo" in text and "127.0.0.1/8" in text  # interfaces come from GET /v1/system
        assert "Uptime" in text

        await pilot.press("1")
        await wait_for_text(pilot, "Components")
        assert app.current_mode == "dashboard"


async def test_a_key_pressed_while_screens_warm_up_is_taken_at_once(shared_engine: RunningEngine) -> None:
    """The console composes its screens unseen after the first paint; a technician's key must not
    wait for all of them (it once did, for seconds on a busy box, with the clock frozen)."""
    app = NocRavenApp(shared_engine.socket)

    def composed() -> set[str]:
        return {mode for mode, stack in app._screen_stacks.items() if stack}

    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await wait_for(pilot, lambda: len(composed()) >= 2, "the first screen composed unseen", timeout=30)
        await pilot.press(key("system"))
        assert app.current_mode == "system"
        every = {m.spec.name for m in app.modes_built}
        assert composed() < every, "the key waited for every screen to be composed"
        # The screens not composed yet come up on their first visit.
        await pilot.press(key("vpn"))
        await wait_for(pilot, lambda: app.screen.id == "mode-vpn" and app.screen.is_mounted, "the VPN screen")
        assert "Profiles" in await wait_for_text(pilot, "Profiles")


async def test_screens_composed_unseen_stay_still_until_visited(shared_engine: RunningEngine) -> None:
    """An idle console on the Dashboard asks the engine for nothing the other screens show: the
    screens composed ahead of a first visit neither poll nor tick (they once cost half its CPU)."""
    app = NocRavenApp(shared_engine.socket)
    seen: list[Message] = []

    def answered(keys: set[str]) -> set[str]:
        return {m.key for m in seen if isinstance(m, messages.ReadCompleted | messages.ReadFailed) and m.key in keys}

    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        every = {m.spec.name for m in app.modes_built}
        await wait_for(
            pilot,
            lambda: {mode for mode, stack in app._screen_stacks.items() if stack} == every,
            "every screen composed unseen",
            timeout=60,
        )
        polled = {read.key for m in app.modes_built if m.screen.poll_every_s for read in m.screen.READS}
        assert "forward_status" in polled  # Flows, Forwarding, Ports, Health poll while shown
        await pilot.pause(1.0)  # what was asked while composing (once each) comes back
        seen.clear()
        await pilot.pause(6.0)  # longer than any screen's poll period
        assert answered(polled) == set(), "screens nobody looks at polled the engine"
        await pilot.press(key("forwarding"))  # the first visit starts its polling
        await wait_for(pilot, lambda: answered({"forward_status"}) == {"forward_status"}, "the Forwarding read")


async def test_uptime_follows_the_engine(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        uptime = engine_status(shared_engine.socket)["uptime_s"]
        shown = app.state.uptime(app.clock())
        assert shown is not None and abs(shown - uptime) < 2
        # The header shows it (allow for the second ticking over between reads).
        text = screen_text(app)
        assert any(f"engine up {human_duration(uptime + d)}" in text for d in (-1, 0, 1, 2))


async def test_read_only_role_sees_no_write_controls(shared_engine: RunningEngine) -> None:
    # role_override stands in for a tech-group user (the engine would answer role "tech").
    app = NocRavenApp(shared_engine.socket, role_override="tech")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        assert not app.state.can_write
        await pilot.press(key("system"))
        text = await wait_for_text(pilot, "Interfaces")
        assert not app.screen.query_one("#restart", Button).display
        assert not app.screen.query_one("#bundle", Button).display
        assert "Restart engine" not in text and "Stop engine" not in text and "Support bundle" not in text
        assert "Read-only role" in text
        assert "tech: read-only" in text
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "System: restart engine" not in titles and "System: stop engine" not in titles
        assert "System: export support bundle" not in titles
        assert not any(title.startswith("Buffer: purge") for title in titles)
        assert "Go to System" in titles
        # The bindings refuse too: pressing R does nothing but stay put.
        await pilot.press("R")
        await pilot.pause()
        assert app.screen.id == "mode-system"


async def test_admin_sees_write_controls(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await pilot.press(key("system"))
        # Started by hand (no supervisor): the engine can be stopped, and nothing promises it back.
        text = await wait_for_text(pilot, "Stop engine")
        assert "Export support bundle" in text
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "System: stop engine" in titles


async def test_support_bundle_from_the_palette(shared_engine: RunningEngine) -> None:
    seen: list[Message] = []
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"support bundle")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: any(isinstance(m, messages.ActionCompleted) for m in seen), "the bundle answer", 20
        )
        result = next(m for m in seen if isinstance(m, messages.ActionCompleted)).result
        assert isinstance(result, BundleWritten) and Path(result.path).exists()
        assert app.current_mode == "system"
        await wait_for_text(pilot, "Support bundle written")


async def test_refused_action_shows_a_modal_not_a_traceback(shared_engine: RunningEngine) -> None:
    seen: list[Message] = []
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        app.write(purge("no-such-service"))  # refused: no buffer in this build, or no such service
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), "the error modal")
        failure = next(m for m in seen if isinstance(m, messages.ActionFailed))
        # The modal is on the stack a frame before it is painted: wait for its words.
        text = await wait_for_text(pilot, "Purge no-such-service failed")
        assert failure.code in text
        assert "Traceback" not in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ErrorModal), "the modal to close")


async def test_engine_restart_shows_down_then_reconnects(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine")
    seen: list[Message] = []
    app = NocRavenApp(engine.socket)
    try:
        async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
            await wait_for(pilot, lambda: app.state.connected, "the first snapshot")
            assert app.state.status is not None
            first_pid = app.state.status.pid

            await in_thread(engine.stop)
            await wait_for(pilot, lambda: app.state.connection == "down", "the down state")
            text = await wait_for_text(pilot, "DOWN")
            assert "reconnecting in" in " ".join(text.split())  # the banner wraps at 80 columns
            assert "Alerts 1" in text  # the unreachable engine counts as an alert
            assert "figures are from" in " ".join(text.split())  # nothing pretends to be live
            assert "running" not in text.replace("was running", "")
            assert any(isinstance(m, messages.EngineStopping) for m in seen)
            assert any(isinstance(m, messages.EngineDisconnected) for m in seen)

            engine = await in_thread(start_engine, tmp_path / "engine")  # same config, same socket
            await wait_for(pilot, lambda: app.state.connected, "the reconnect", timeout=15)
            assert app.state.status.pid != first_pid
            text = await wait_for_text(pilot, "engine up")
            assert "DOWN" not in text
            assert sum(isinstance(m, messages.SnapshotReceived) for m in seen) >= 2
    finally:
        engine.stop()


async def test_console_without_engine_says_so(tmp_path: Path) -> None:
    app = NocRavenApp(tmp_path / "nothing.sock")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.connection == "down", "the down state")
        text = await wait_for_text(pilot, "DOWN")
        assert "socket file not found" in text
        assert "Traceback" not in text


def udp_listener(status: dict[str, Any]) -> tuple[str, int] | None:
    syslog = status["components"].get("syslog", {})
    if syslog.get("state") != "running":
        return None
    for listener in syslog.get("detail", {}).get("listeners", []):
        if listener.get("proto") == "udp":
            host, _, port = listener["address"].rpartition(":")
            return host, int(port)
    return None


async def test_real_syslog_reaches_the_dashboard_and_the_live_tail(shared_engine: RunningEngine) -> None:
    target = udp_listener(engine_status(shared_engine.socket))
    if target is None:
        pytest.skip("this engine build has no running syslog collector")
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        before = app.state.record_count("syslog") or 0
        await pilot.press("3")
        await wait_for_text(pilot, "following")
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for n in range(200):
                sender.sendto(f"<134>Nov 27 06:00:00 tui-test-host console[7]: tui-marker {n}".encode(), target)
        finally:
            sender.close()
        text = await wait_for_text(pilot, "tui-marker", timeout=15)
        assert "tui-test-host console: tui-marker" in text
        await wait_for(
            pilot, lambda: (app.state.record_count("syslog") or 0) >= before + 200, "the syslog counters", 15
        )
        await pilot.press("1")
        text = await wait_for_text(pilot, "Syslog")
        assert "not available" not in str(app.screen.query_one("#spark-syslog").render())
        assert app.state.rates["syslog"].latest is not None


async def test_admin_purges_a_service_through_the_typed_confirmation(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "engine")
    try:
        if engine_status(engine.socket)["components"]["buffer"]["state"] != "running":
            pytest.skip("this engine build has no buffer")
        seen: list[Message] = []
        app = NocRavenApp(engine.socket)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await wait_for(pilot, lambda: app.state.connected, "the snapshot")
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"purge syslog")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await wait_for_text(pilot, "Type syslog to confirm")
            await pilot.press(*"syslog", "enter")
            await wait_for(
                pilot, lambda: any(isinstance(m, messages.ActionCompleted) for m in seen), "the purge answer", 15
            )
            done = next(m for m in seen if isinstance(m, messages.ActionCompleted))
            assert done.write.key == "purge:syslog"
            assert isinstance(done.result, Purged) and done.result.service == "syslog"
            assert app.current_mode == "buffer"
            await wait_for_text(pilot, "Purge syslog: done")
    finally:
        engine.stop()


async def test_vpn_import_from_a_path_and_a_refusal(shared_engine: RunningEngine, tmp_path: Path) -> None:
    pki = make_pki()
    good = tmp_path / "noc-console.ovpn"
    good.write_text(client_profile(pki, [("127.0.0.1", free_udp_port())]))  # nothing answers there
    bad = tmp_path / "bad.ovpn"
    bad.write_text(client_profile(pki, [("127.0.0.1", 1194)], extra="up /bin/true\n"))
    seen: list[Message] = []
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await pilot.press(key("vpn"))
        await wait_for_text(pilot, "Profiles")
        app.screen.query_one("#vpn-import-path", Input).value = str(good)
        app.screen.query_one("#vpn-import-priority", Input).value = "7"
        await pilot.click("#vpn-import-go")
        await wait_for(pilot, lambda: any(isinstance(m, messages.ActionCompleted) for m in seen), "the import", 20)
        table = app.screen.query_one("#vpn-profiles", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the profile in the table")
        assert "noc-console" in screen_text(app) and "Imported noc-console (priority 7)" in screen_text(app)

        app.screen.query_one("#vpn-import-path", Input).value = str(bad)
        await pilot.click("#vpn-import-go")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), "the refusal")
        failure = next(m for m in seen if isinstance(m, messages.ActionFailed))
        assert failure.code == "profile_refused" and "up: would run a command" in failure.message
    with Client(shared_engine.socket) as client:
        assert [p.name for p in client.vpn_profiles().profiles] == ["noc-console"]
        client.vpn_remove("noc-console")
