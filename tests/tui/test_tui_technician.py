"""The console as a new technician found it (issue 9, items 13-16): stale figures, restart or stop,
filters that miss nothing, keys and words. Offline on the recording unless a real engine is needed."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from textual.pilot import Pilot

from nocraven.schema.engine import EngineStatus
from nocraven.schema.events import Snapshot
from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import EngineMatch
from nocraven_tui.screens.live import LiveScreen
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.confirm import ConfirmModal
from nocraven_tui.widgets.keys import KeysModal
from nocraven_tui.widgets.record_view import RecordView
from tests.support.engine import RunningEngine
from tests.tui.conftest import frozen_clock, key, screen_text, wait_for, wait_for_text
from tests.tui.recorded import NOW, published, replay, sampled_records, watch_lines
from tests.tui.test_tui_engine import engine_status, udp_listener

README = Path(__file__).resolve().parents[2] / "README.md"


def flat(app: NocRavenApp) -> str:
    """The screen's words on one line: a banner wraps wherever the width says."""
    return " ".join(screen_text(app).split())


def offline_app(**kwargs: Any) -> NocRavenApp:
    return NocRavenApp(connect=False, clock=frozen_clock, **kwargs)


def engine_went_away(app: NocRavenApp) -> None:
    app.post_message(messages.EngineStopping("SIGTERM"))
    app.post_message(messages.EngineDisconnected("no engine answers on /run/nocraven/control.sock", retry_in=4.0))


def with_supervisor(app: NocRavenApp, supervisor: str | None) -> None:
    """The recording's snapshot again, as an engine with (or without) a supervisor would send it."""
    status = msgspec.structs.replace(recorded_status(), supervisor=supervisor)
    app.post_message(messages.SnapshotReceived(1000, status))


# ---- 13: after the engine goes down, nothing looks live ----------------------------------------


def recorded_status() -> EngineStatus:
    snapshot = published(watch_lines()[0]).event
    assert isinstance(snapshot, Snapshot)
    return snapshot.status


def test_stale_since_is_the_first_loss_and_a_snapshot_ends_it() -> None:
    state = ConsoleState()
    state.mark_down("no engine", NOW, 1.0)  # never connected: nothing on screen is stale
    assert state.stale_note() is None
    state.apply_snapshot(recorded_status(), 1, NOW - 10)
    state.mark_stopping("SIGTERM", NOW)
    assert state.stale_note() == "engine stopped since 06:00:00Z: figures are from then"
    state.mark_down("no engine", NOW + 1, 1.0)
    state.mark_down("no engine", NOW + 5, 2.0)  # every failed retry: "since" stays put
    assert state.stale_note() == "engine unreachable since 06:00:00Z: figures are from then"
    state.apply_snapshot(recorded_status(), 2, NOW + 6)
    assert state.stale_note() is None and not state.stale


async def test_dashboard_greys_out_and_says_since_when_it_is_stale() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        text = await wait_for_text(pilot, "running")
        assert "stale" not in text
        engine_went_away(app)
        phrase = "engine unreachable since 06:00:00Z: figures are from then"
        await wait_for(pilot, lambda: phrase in flat(app), "the stale banner")
        text = screen_text(app)
        # No component is shown as running and no rate as current while nobody knows.
        assert "running" not in text.replace("was running", "")
        assert "was running" in text and "unknown" in text
        assert "Components, as last seen at 06:00:00Z" in text
        assert app.screen.query_one("#spark-syslog").has_class("-stale")
        assert "stale" in str(app.screen.query_one("#spark-syslog").render())
        # Back: live again.
        replay(app)
        text = await wait_for_text(pilot, "engine up")
        assert "stale" not in text and "unknown" not in text
        assert not app.screen.query_one("#spark-syslog").has_class("-stale")


# ---- 14: restart only where something restarts it --------------------------------------------


@pytest.mark.parametrize(
    ("supervisor", "button", "title", "promise"),
    [
        ("demo", "Restart engine", "Restart the engine?", "demo starts it again"),
        ("systemd", "Restart engine", "Restart the engine?", "systemd starts it again"),
        (None, "Stop engine", "Stop the engine?", "Nothing will start it again"),
    ],
)
async def test_restart_says_who_restarts_or_that_nobody_does(
    supervisor: str | None, button: str, title: str, promise: str
) -> None:
    seen: list[Any] = []
    app = offline_app()
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        replay(app)
        with_supervisor(app, supervisor)
        await pilot.press(key("system"))
        text = await wait_for_text(pilot, button)
        other = "Stop engine" if button == "Restart engine" else "Restart engine"
        assert other not in text
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert ("System: restart engine" in titles) == (supervisor is not None)
        assert ("System: stop engine" in titles) == (supervisor is None)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        text = screen_text(app)
        assert title in text and promise in " ".join(text.split())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal), "the confirmation to close")


async def test_a_stop_without_supervisor_is_not_promised_back() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        with_supervisor(app, None)
        await pilot.pause()
        app.post_message(messages.EngineStopping("stop requested over the API"))
        await wait_for(pilot, lambda: "nothing starts it again" in flat(app), "the stop's banner")
        assert "waiting for it" not in flat(app)
        assert "engine stopping (stop requested over the API); figures are from 06:00:00Z" in flat(app)
        with_supervisor(app, "demo")
        await pilot.pause()
        app.post_message(messages.EngineStopping("stop requested over the API"))
        await wait_for(pilot, lambda: "demo starts it again, waiting for it" in flat(app), "the restart's banner")


async def test_a_real_engine_without_supervisor_offers_stop(shared_engine: RunningEngine) -> None:
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        assert app.state.status is not None and app.state.status.supervisor is None
        await pilot.press(key("system"))
        text = await wait_for_text(pilot, "Stop engine")
        assert "Restart engine" not in text


# ---- 15: a filter runs in the engine over every record ----------------------------------------


async def test_text_filter_shows_every_matching_record_from_a_real_engine(shared_engine: RunningEngine) -> None:
    target = udp_listener(engine_status(shared_engine.socket))
    if target is None:
        pytest.skip("this engine build has no running syslog collector")
    marker = f"techtest-{uuid.uuid4().hex[:8]}"
    app = NocRavenApp(shared_engine.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.connected, "the snapshot")
        await pilot.press("3")
        await wait_for_text(pilot, "following")
        await pilot.press("slash", *marker, "enter")
        # A slow machine may send a prefix first (the filter settles between keys); the whole word follows.
        await wait_for(pilot, lambda: getattr(app.state.match, "grep", None) == marker, "the engine filter")
        assert app.state.match == EngineMatch(grep=marker, limit=app.state.match.limit)
        await wait_for_text(pilot, "filtered in the engine")
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # Six test messages among noise, as a technician's check would be: samples miss most.
            for n in range(600):
                sender.sendto(f"<134>Nov 27 06:00:00 noise-host app[1]: noise {n}".encode(), target)
                if n % 100 == 50:
                    sender.sendto(f"<134>Nov 27 06:00:00 tech-laptop test[2]: {marker} #{n // 100}".encode(), target)
        finally:
            sender.close()
        text = await wait_for_text(pilot, "6 shown", timeout=15)
        assert all(f"{marker} #{i}" in text for i in range(6))
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        assert len(screen.rows) == 6 and "noise" not in text
        # Clearing the filter goes back to samples, and says so.
        screen.action_clear_filters()
        text = await wait_for_text(pilot, "records/s shown", timeout=15)
        assert re.search(r"sampled: [\d,]+ of [\d,]+ records/s shown", text)
        assert app.state.match is None


async def test_filtered_view_takes_the_engines_records_not_the_samples() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.press("3")
        text = await wait_for_text(pilot, "33 shown")
        assert "sampled: 33 of 5,400 records/s shown" in text  # one batch: one second's worth
        await pilot.press("slash", *"SPANTREE")
        await wait_for(pilot, lambda: app.state.match == EngineMatch(grep="SPANTREE", limit=1000), "the filter")
        await wait_for_text(pilot, "0 shown")  # nothing the samples held counts any more
        matching = [r for r in sampled_records() if "SPANTREE" in str(r.get("app_name"))]
        # The engine answers for the filter in force; a late answer to an older filter is dropped.
        app.post_message(messages.RecordsMatched(app.state.match_generation - 1, matching))
        app.post_message(messages.RecordsMatched(app.state.match_generation, matching * 3))
        text = await wait_for_text(pilot, f"{len(matching) * 3} shown")
        assert "every match, filtered in the engine" in text
        app.post_message(messages.MatchStreamEnded(app.state.match_generation, "no engine answers"))
        await wait_for_text(pilot, "filter stopped: no engine answers")


async def test_enter_applies_the_filter_at_once() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.press("3")
        await wait_for_text(pilot, "33 shown")
        await pilot.press("slash", *"SPANTREE", "enter")
        await pilot.pause()  # no wait for typing to settle: Enter says the filter is whole
        assert app.state.match == EngineMatch(grep="SPANTREE", limit=1000)
        assert isinstance(app.focused, RecordView)


def test_sampling_rate_is_per_second_over_the_window() -> None:
    state = ConsoleState()
    for i in range(10):  # five samples a second of 25 records standing for 240 each
        state.live.extend([{}] * 25, 240, NOW + i * 0.2)
    rate = state.live.sampling_rate()
    assert rate is not None
    shown, ingested = rate
    assert round(shown) == 139 and round(ingested) == 1333  # 250 and 2400 over 1.8 s


# ---- 16: keys, quitting, words -----------------------------------------------------------------


async def _open_keys_from_the_palette(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"Keys")
    await pilot.pause(0.3)
    await pilot.press("enter")


@pytest.mark.parametrize("opener", ["palette", "question_mark", "f1"])
async def test_keys_open_close_with_escape_and_leave_the_screen_whole(opener: str) -> None:
    app = offline_app()
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app)
        await pilot.pause()
        dashboard = app.screen
        width = dashboard.query_one("#components").size.width
        if opener == "palette":
            await _open_keys_from_the_palette(pilot)
        else:
            await pilot.press(opener)
        await wait_for(pilot, lambda: isinstance(app.screen, KeysModal), "the keys")
        text = flat(app)
        assert "q or Ctrl-C leaves the console" in text
        assert "go to Buffer" in text and "Cursor up" not in text
        assert dashboard.query_one("#components").size.width == width  # floats over, squeezes nothing
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard, "Escape to close the keys")


async def test_ctrl_c_and_q_both_quit_as_the_readme_says() -> None:
    readme = " ".join(README.read_text().split())
    assert "One Ctrl-C or `q` in the console stops everything" in readme
    for quit_key in ("ctrl+c", "q"):
        app = offline_app()
        async with app.run_test(size=(80, 24)) as pilot:
            replay(app)
            assert app.return_code is None
            await pilot.press(quit_key)
            await pilot.pause()
            assert app.return_code == 0, f"{quit_key} did not quit"


async def test_labels_are_words_not_field_names() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        text = await wait_for_text(pilot, "dropped by OS")
        for code in ("mps", "lost without buffer", "kdrop", "rec ", "rej ", "records stored"):
            assert code not in text, code
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)
        await pilot.press("2")
        text = await wait_for_text(pilot, "On disk")
        assert "Received" in text and "As records" in text and "Raw" not in text
        # The syslog collector's bytes off the wire, next to the same records as JSON and on disk.
        assert re.search(r"[\d.]+ GiB received, [\d.]+ GiB as records, [\d.]+ MiB on disk", text), text
        assert "less room than as records" in text
