"""The Health screen and the header's alert count, as a technician sees them: offline on the
recording (alerts arrive as the watch stream's `health.alert_raised` / `alert_cleared` lines),
and once against a real engine's health monitor."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from textual.widgets import DataTable, Static

from nocraven.schema.health import Alert, HealthHistory, HistoryPoint
from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.modes import built_modes
from nocraven_tui.screens.health import HEALTH_HISTORY, HEALTH_REPORT, HealthScreen, increases
from nocraven_tui.state import HealthAlerts
from nocraven_tui.theme import ASCII, UNICODE
from nocraven_tui.widgets.spark import sparkline
from nocraven_tui.widgets.spark_rows import SparkRows
from tests.support.engine import RunningEngine
from tests.tui.conftest import frozen_clock, key, screen_text, wait_for, wait_for_text
from tests.tui.recorded import NOW, published, replay

MEMORY = {
    "metric": "memory",
    "severity": "critical",
    "message": "memory at 96.4 % (critical above 95 %)",
    "value": 96.4,
    "raised_at": NOW - 30,
}


def offline_app(**kwargs: Any) -> NocRavenApp:
    return NocRavenApp(connect=False, clock=frozen_clock, **kwargs)


def alert_line(kind: str, alert: dict[str, Any], seq: int = 900) -> messages.AlertRaised | messages.AlertCleared:
    """A `health.*` watch line as the connection worker turns it into a message."""
    message = messages.from_event(published({"seq": seq, "kind": kind, "at": NOW, "data": {"alert": alert}}))
    assert isinstance(message, messages.AlertRaised | messages.AlertCleared)
    return message


def header_markup(app: NocRavenApp) -> str:
    return str(app.screen.query_one("#status", Static).content)


def alerts_in_header(app: NocRavenApp) -> str:
    text = screen_text(app).splitlines()[0]
    return text[text.index("Alerts") :].split()[1]


# ---- the header's count --------------------------------------------------------------------------


async def test_the_header_counts_an_alert_the_moment_it_is_raised_and_cleared() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        # The snapshot's disk warning and the console's own kernel-drops warning: amber.
        assert alerts_in_header(app) == "2"
        assert "[$warning]2[/]" in header_markup(app)
        app.post_message(alert_line("health.alert_raised", MEMORY))
        await wait_for(pilot, lambda: alerts_in_header(app) == "3", "the raised alert counted")
        assert "[$error]3[/]" in header_markup(app)  # a critical one: the count turns red
        assert "memory at 96.4 %" in screen_text(app)  # the notification says which
        app.post_message(alert_line("health.alert_cleared", {**MEMORY, "value": 80.0, "cleared_at": NOW}))
        await wait_for(pilot, lambda: alerts_in_header(app) == "2", "the cleared alert gone from the count")
        assert "[$warning]2[/]" in header_markup(app)


async def test_the_count_and_the_health_tab_lead_to_the_health_screen() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        first_line = screen_text(app).splitlines()[0]
        await pilot.click("#status", offset=(first_line.index("Alerts") + 1, 0))
        await wait_for(pilot, lambda: app.current_mode == "health", "the Health screen after a click on the count")
        await pilot.press(key("dashboard"))
        await wait_for(pilot, lambda: app.current_mode == "dashboard", "the dashboard")
        tabs = screen_text(app).splitlines()[1]
        await pilot.click("#tabs", offset=(tabs.index(f"{key('system')} Sys") + 2, 0))
        await wait_for(pilot, lambda: app.current_mode == "system", "System after a click on its tab")
        await pilot.press(key("health"))
        await wait_for(pilot, lambda: app.current_mode == "health", "the Health screen by its key")


@pytest.mark.slow  # every screen composed once: about 20 s on a busy machine
async def test_every_mode_is_reached_by_its_key_from_every_other() -> None:
    """Each mode's key pressed on the screen before it, forwards then backwards: every screen
    lets every key through to its neighbours, and the letters past the ninth tab work too."""
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        names = [mode.spec.name for mode in built_modes()]
        for name in [*names[1:], *reversed(names[:-1])]:
            await pilot.press(key(name))
            await wait_for(pilot, lambda name=name: app.current_mode == name, f"{name} by its key")


async def test_the_keys_modal_and_the_palette_name_every_mode_with_its_key() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        await pilot.press("question_mark")
        text = await wait_for_text(pilot, "go to Health")
        assert "go to System" in text
        await pilot.press("escape")
        helps = {command.title: command.help for command in app.get_system_commands(app.screen)}
        assert helps["Go to Health"].endswith("(key H)") and helps["Go to System"].endswith("(key 0)")


# ---- the Health screen ---------------------------------------------------------------------------


async def test_the_health_screen_says_what_fills_and_when() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        await pilot.press(key("health"))
        text = await wait_for_text(pilot, "disk full in 3.2 days at this rate")
        assert "buffer full in 9 h at this rate" in text
        assert "WARNING  1 active alert" in text
        assert "data disk at 87.0 % (warning above 85 %)  since 05:42:00Z (18m 00s)" in text
        history = app.screen.query_one("#health-history", DataTable)
        rows = [[str(cell) for cell in history.get_row(row)] for row in history.rows]
        assert [row[1] for row in rows] == [
            "data disk at 87.0 % (warning above 85 %)",
            "CPU at 99.2 % (critical above 98 %)",
        ]
        assert rows[0][3] == "active" and rows[1][3] == "2026-11-27 05:16:00Z" and rows[1][4] == "3m 00s"
        listeners = app.screen.query_one("#health-listeners", DataTable)
        states = {str(listeners.get_row(row)[2]): str(listeners.get_row(row)[3]) for row in listeners.rows}
        assert states["0.0.0.0:6514"] == "failed" and states["0.0.0.0:162"] == "running"
        components = app.screen.query_one("#health-components", DataTable)
        names = [str(components.get_row(row)[0]) for row in components.rows]
        assert "syslog" in names and "vpn" not in names  # not in this build: nothing to watch


async def test_a_raised_alert_shows_at_the_top_then_moves_to_the_history_when_cleared() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        await pilot.press(key("health"))
        await wait_for_text(pilot, "disk full in")
        app.post_message(alert_line("health.alert_raised", MEMORY))
        text = await wait_for_text(pilot, "CRITICAL  2 active alerts")
        assert "memory at 96.4 % (critical above 95 %)  since 05:59:30Z (30s)" in text
        summary_lines = str(app.screen.query_one("#health-summary", Static).content).splitlines()
        assert "memory at 96.4" in summary_lines[1]  # the critical one before the warning
        app.post_message(alert_line("health.alert_cleared", {**MEMORY, "value": 80.0, "cleared_at": NOW}))
        text = await wait_for_text(pilot, "WARNING  1 active alert")
        history = app.screen.query_one("#health-history", DataTable)
        newest = [str(cell) for cell in history.get_row(next(iter(history.rows)))]
        assert newest[1] == MEMORY["message"] and newest[3] == "2026-11-27 06:00:00Z" and newest[4] == "30s"


def resource_line(app: NocRavenApp, label: str) -> str:
    rendered = str(app.screen.query_one("#health-resources", SparkRows).render())
    return next(line for line in rendered.splitlines() if line.startswith(label + " "))


async def test_sparklines_draw_the_last_hour() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        await pilot.press(key("health"))
        await wait_for_text(pilot, "Resources, last 60 min")
        cpu = resource_line(app, "CPU")
        spark = "".join(c for c in cpu if c in UNICODE.spark)
        assert 40 <= len(spark) <= 60  # at most one cell a minute, as wide as the row leaves
        # The spike 44 to 47 minutes ago, at 99 % of a 100 % scale; calm around 20 % elsewhere.
        spike = [i for i, c in enumerate(spark) if c == "█"]
        assert 3 <= len(spike) <= 5 and spike == list(range(spike[0], spike[-1] + 1))
        assert 0.15 < spike[0] / len(spark) < 0.3
        assert set(spark) - {"█"} <= set("▁▂▃▄")
        assert "23.5 %" in cpu and "4 cores" in cpu
        rss = "".join(c for c in resource_line(app, "Engine RSS") if c in UNICODE.spark)
        assert rss[0] == "▁" and rss[-1] == "█"  # a slow climb shows as a ramp
        assert "+19" in resource_line(app, "Net drops") and "enp1s0 1,204 since boot" in resource_line(app, "Net drops")
        # No history yet (a fresh engine): the rows are there, the sparklines empty.
        app.post_message(messages.ReadCompleted(HEALTH_HISTORY.key, HealthHistory(resolution_s=60.0, points=[])))
        await wait_for(
            pilot, lambda: not any(c in UNICODE.spark for c in resource_line(app, "CPU")), "empty sparklines"
        )


async def test_without_a_health_monitor_the_screen_says_so() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        app.post_message(messages.ComponentStateChanged("health", "not_available", "running"))
        app.post_message(messages.ReadFailed(HEALTH_REPORT.key, "not_available", "health monitoring is off"))
        await pilot.pause()
        await pilot.press(key("health"))
        text = await wait_for_text(pilot, "Health: not available")
        assert "health monitoring is off" in text


@pytest.mark.slow
async def test_the_health_screen_on_a_real_engine(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await pilot.press(key("health"))
        text = await wait_for_text(pilot, "sampled every", timeout=20)
        assert "CPU" in text and "Disk" in text
        assert isinstance(app.screen, HealthScreen)
        listeners = app.screen.query_one("#health-listeners", DataTable)
        await wait_for(pilot, lambda: listeners.row_count > 0, "the engine's listeners")
        addresses = [str(listeners.get_row(row)[2]) for row in listeners.rows]
        assert any(address.startswith("127.0.0.1:") for address in addresses)
        await wait_for(pilot, lambda: app.state.value(HEALTH_HISTORY) is not None, "the history read")


# ---- the plain parts -----------------------------------------------------------------------------


def alert(metric: str, raised_at: float, cleared_at: float | None = None, severity: str = "warning") -> Alert:
    return msgspec.convert(
        {
            "metric": metric,
            "severity": severity,
            "message": f"{metric} high",
            "value": 90.0,
            "raised_at": raised_at,
            "cleared_at": cleared_at,
        },
        Alert,
    )


def test_alerts_follow_raise_escalate_and_clear() -> None:
    alerts = HealthAlerts()
    alerts.reset([alert("disk", 10.0)])
    assert alerts.worst() == "warning"
    alerts.raised(alert("memory", 20.0, severity="critical"))
    assert alerts.worst() == "critical" and set(alerts.active) == {"disk", "memory"}
    alerts.raised(alert("disk", 30.0, severity="critical"))  # escalated: one alert per metric
    assert alerts.active["disk"].raised_at == 30.0
    alerts.cleared(alert("disk", 10.0, cleared_at=31.0))  # a late clear of the old raise
    assert "disk" in alerts.active
    alerts.cleared(alert("disk", 30.0, cleared_at=40.0))
    alerts.cleared(alert("memory", 20.0, cleared_at=41.0))
    assert alerts.worst() is None and not alerts.active
    reported = [alert("disk", 30.0), alert("cpu", 5.0, cleared_at=6.0)]  # an older report: disk still open
    history = alerts.history(reported)
    assert [(a.metric, a.raised_at, a.cleared_at) for a in history] == [
        ("disk", 30.0, 40.0),
        ("memory", 20.0, 41.0),
        ("disk", 10.0, 31.0),
        ("cpu", 5.0, 6.0),
    ]


def test_health_events_map_to_their_messages() -> None:
    for kind, cls in (("health.alert_raised", messages.AlertRaised), ("health.alert_cleared", messages.AlertCleared)):
        message = alert_line(kind, MEMORY)
        assert isinstance(message, cls) and message.alert.metric == "memory"


def test_counter_increases_skip_a_restart() -> None:
    points = [
        msgspec.convert({"at": at, "values": {"net_drops": value}}, HistoryPoint)
        for at, value in ((0.0, 100.0), (60.0, 160.0), (120.0, 4.0), (180.0, 10.0))
    ]
    assert increases(points, "net_drops", per_second=False) == ((60.0, 60.0), (180.0, 6.0))
    assert increases(points, "net_drops", per_second=True) == ((60.0, 1.0), (180.0, 0.1))
    assert increases(points, "net_errors", per_second=False) == ()  # an engine that did not record it


def test_a_percentage_sparkline_is_scaled_to_100() -> None:
    assert sparkline([2.0, 4.0], UNICODE) == "▅█"  # to its own peak: a calm box looks busy
    assert sparkline([2.0, 4.0], UNICODE, ceiling=100.0) == "▁▁"
    assert sparkline([50.0, 100.0, None], ASCII, ceiling=100.0) == "=# "
