"""The Forwarding screen, the dashboard's Forwarding card and the header: from the recorded
session (no engine), and against a real engine whose NOC does not answer (pause/resume)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, DataTable

from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import FORWARD_STATUS
from tests.support.engine import start_engine
from tests.support.forwarding import free_port
from tests.tui.conftest import frozen_clock, key, screen_text, wait_for, wait_for_text
from tests.tui.recorded import replay


async def test_one_row_per_sink_and_the_worst_state_on_the_dashboard_and_header() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        text = screen_text(app)
        assert "Fwd paused" in text  # the header: the worst of draining and paused
        card = str(app.screen.query_one("#forward-panel").render())
        assert card.splitlines() == ["paused (2 sinks)", "backlog 1.18M", "41.2k/s", "archive: paused by an operator"]
        await pilot.press(key("forwarding"))
        text = await wait_for_text(pilot, "Sinks")
        table = app.screen.query_one("#sinks", DataTable)
        assert [str(key.value) for key in table.rows] == ["noc", "archive"]
        noc = [str(cell) for cell in table.get_row("noc")]
        assert noc[:3] == ["noc", "nats", "draining"]
        assert "912" in noc[3] and noc[7] == "22s" and noc[8] == "0s ago"
        assert "unreachable" in noc[9]
        archive = [str(cell) for cell in table.get_row("archive")]
        assert archive[2] == "paused" and archive[7] == "-" and archive[8] == "45m 00s ago"
        assert "site arena-01, 2 sink(s), worst paused" in text
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Forwarding: pause noc" in titles and "Forwarding: resume archive" in titles


async def test_a_tech_user_sees_no_pause_or_resume() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock, role_override="tech")
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app, "tech")
        await pilot.pause()
        await pilot.press(key("forwarding"))
        await wait_for_text(pilot, "Sinks")
        assert not app.screen.query_one("#pause", Button).display
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert not any(title.startswith("Forwarding: pause") for title in titles)


async def test_pause_and_resume_a_sink_from_the_screen(tmp_path: Path) -> None:
    config = (
        '[forward]\nsite = "arena-01"\n[[forward.sinks]]\nname = "noc"\n'
        f'urls = ["nats://127.0.0.1:{free_port()}"]\ntimeout_s = 0.5\n'
    )
    engine = start_engine(tmp_path / "engine", config, wait=60)
    try:
        app = NocRavenApp(engine.socket)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state.connected, "the snapshot")
            await pilot.press(key("forwarding"))

            def sink_state() -> str | None:
                status = app.state.value(FORWARD_STATUS)
                return status.sinks[0].state if status is not None and status.sinks else None

            await wait_for(pilot, lambda: sink_state() == "buffering", "the sink buffering", timeout=30)
            await wait_for_text(pilot, "NATS nats://127.0.0.1")  # the last error, in its column
            await pilot.press("p")
            await wait_for(pilot, lambda: sink_state() == "paused", "paused", timeout=30)
            assert "Pause noc: paused" in await wait_for_text(pilot, "Pause noc")
            await pilot.press("u")
            await wait_for(pilot, lambda: sink_state() == "buffering", "buffering again", timeout=30)
    finally:
        engine.stop()
