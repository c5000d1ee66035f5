"""The live tail and the palette without an engine: recorded messages in, screen content out."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from textual.message import Message

from nocraven.buffer.filter import RecordFilter as EngineFilter
from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import EngineMatch
from nocraven_tui.screens.live import ROW_CAP, LiveScreen
from nocraven_tui.widgets.record_view import RecordView
from tests.tui.conftest import frozen_clock, screen_text, wait_for, wait_for_text
from tests.tui.recorded import replay, sampled_records


def offline_app(**kwargs: Any) -> NocRavenApp:
    return NocRavenApp(connect=False, clock=frozen_clock, **kwargs)


def syslog_batch(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "service": "syslog",
            "received_at": "2026-11-27T05:59:59Z",
            "source": f"10.30.{n % 200}.{n % 250}:514",
            "severity": 6,
            "hostname": f"edge-{n % 40}",
            "app_name": "kernel",
            "message": f"record {n}",
        }
        for n in range(start, start + count)
    ]


def engine_answers(app: NocRavenApp, source: str = "", grep: str = "") -> None:
    """What the engine's filtered follow stream would send for the recorded records (its own filter)."""
    match = EngineFilter(source=source or None, text=grep or None)
    found = [r for r in sampled_records() if match(msgspec.json.encode(r))]
    app.post_message(messages.RecordsMatched(app.state.match_generation, found))


async def test_live_tail_filters_on_service_source_and_text() -> None:
    app = offline_app()
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app)
        await pilot.press("3")
        text = await wait_for_text(pilot, "33 shown")
        assert "IF-MIB::linkDown" in text or "core-sw1" in text

        await pilot.press("slash", *"core-sw2")
        await wait_for(pilot, lambda: app.state.match == EngineMatch(grep="core-sw2", limit=ROW_CAP), "the filter")
        engine_answers(app, grep="core-sw2")
        text = await wait_for_text(pilot, "6 shown")
        assert "core-sw1" not in text and text.count("core-sw2 SPANTREE") == 6

        screen = app.screen
        assert isinstance(screen, LiveScreen)
        screen.action_clear_filters()
        await wait_for(pilot, lambda: app.state.match is None, "back to samples")
        await wait_for_text(pilot, "33 shown")
        screen.action_focus_filter("service")
        await pilot.press(*"tr")  # a service alone filters the samples, at once
        text = await wait_for_text(pilot, "1 shown")
        assert "IF-MIB::linkDown from 10.20.0.12" in text

        screen.action_clear_filters()
        screen.action_focus_filter("source")
        await pilot.press(*"10.20.4.")
        await wait_for(pilot, lambda: app.state.match == EngineMatch(source="10.20.4.", limit=ROW_CAP), "the filter")
        engine_answers(app, source="10.20.4.")
        text = await wait_for_text(pilot, "6 shown")
        assert "fw-edge filterlog" in text
        await pilot.press("escape")
        assert isinstance(app.focused, RecordView)


async def test_pause_freezes_the_view_and_resume_catches_up() -> None:
    app = offline_app()
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app)
        await pilot.press("3")
        await wait_for_text(pilot, "33 shown")
        await pilot.press("space")
        await wait_for_text(pilot, "PAUSED")
        app.post_message(messages.RecordsSampled("syslog", syslog_batch(0, 50), total=50))
        text = await wait_for_text(pilot, "50 new")
        assert "record 49" not in text and "33 shown" in text
        await pilot.press("space")
        text = await wait_for_text(pilot, "83 shown")
        assert "record 49" in text and "following" in text


async def test_ten_thousand_records_a_second_stay_bounded_and_responsive() -> None:
    seen: list[Message] = []
    app = offline_app()
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        replay(app)
        await pilot.press("3")
        await wait_for_text(pilot, "33 shown")
        # One second's worth at 10,000 records/s, as 100 samples of 100 records.
        for i in range(100):
            app.post_message(messages.RecordsSampled("syslog", syslog_batch(i * 100, 100), total=100))
        started = time.monotonic()
        await pilot.press("1")  # the mode switch waits behind the flood in the queue
        await wait_for(pilot, lambda: app.current_mode == "dashboard", "the mode switch")
        assert time.monotonic() - started < 2.0
        await pilot.press("3")
        await wait_for_text(pilot, "record 9999")
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        assert len(screen.rows) == ROW_CAP
        assert len(app.state.live.records) <= app.state.live.capacity
        assert app.state.live.appended == 33 + 10_000
        assert sum(isinstance(m, messages.RecordsSampled) for m in seen) >= 100


async def test_palette_lists_a_command_for_every_action() -> None:
    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        replay(app)
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for expected in (
            "Go to Dashboard",
            "Go to Buffer",
            "Go to Live",
            "Go to System",
            "Buffer: refresh statistics",
            "Buffer: purge syslog",
            "Live: pause",
            "Live: resume",
            "Live: filter by text",
            "Live: clear",
            "System: restart engine",
            "System: export support bundle",
            "Reconnect to the engine",
            "Quit",
        ):
            assert expected in titles
        # Driving the palette by keyboard: it switches mode and runs the screen's action.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Live: pause")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "live", "the Live mode")
        await wait_for_text(pilot, "PAUSED")


async def test_read_only_role_from_the_engine_hides_writes() -> None:
    # The engine's own answer (status "role") drives it: here the recording says "read".
    app = offline_app()
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app, role="read")
        await pilot.press("2")
        text = await wait_for_text(pilot, "Services")
        assert "Purge" not in text
        assert not app.screen.query_one("#purge").display
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert not any(title.startswith("Buffer: purge") for title in titles)
        await pilot.press("x")  # the binding is refused for this role
        await pilot.pause()
        assert app.screen.id == "mode-buffer"


async def test_purge_needs_the_typed_service_name() -> None:
    seen: list[Message] = []
    app = offline_app()
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        replay(app)
        await pilot.press("2")
        await wait_for_text(pilot, "Services")
        await pilot.press("x")
        await wait_for_text(pilot, "Type syslog to confirm")
        await pilot.press(*"syslo", "enter")  # not yet the name: nothing happens
        await pilot.pause()
        assert not any(isinstance(m, messages.ActionFailed) for m in seen)
        await pilot.press("g", "enter")
        # Offline, the write ends in ActionFailed and the error modal, as any failure would.
        await wait_for(pilot, lambda: any(isinstance(m, messages.ActionFailed) for m in seen), "the purge")
        failure = next(m for m in seen if isinstance(m, messages.ActionFailed))
        assert failure.action == "purge:syslog"
        await wait_for_text(pilot, "Purge syslog failed")


async def test_plain_look_uses_ascii() -> None:
    app = offline_app(plain=True)
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app)
        await pilot.pause()
        text = screen_text(app)
        assert app.theme == "nocraven-plain"
        assert "+- Syslog" in text and "╭" not in text and "│" not in text
        assert "█" not in text and "●" not in text
