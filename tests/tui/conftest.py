"""Console test helpers: a real engine per module, the frozen clock, and reading what the screen shows."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from tests.support.engine import RunningEngine, start_engine
from tests.tui.recorded import NOW


def frozen_clock() -> float:
    return NOW


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """One real engine for a module's read-mostly tests (starting one costs about a second)."""
    running = start_engine(tmp_path_factory.mktemp("tui-engine"))
    yield running
    running.stop()


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, the way the terminal would show it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False, safe_box=False)
    # Same path as App.export_screenshot, but as text (Textual is pinned, so this stays put).
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def wait_for_text(pilot: Pilot[Any], text: str, timeout: float = 10.0) -> str:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), f"{text!r} on screen", timeout)
    return screen_text(pilot.app)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Blocking process control (start/stop an engine) without stalling the app under test."""
    return await asyncio.to_thread(fn, *args)


def key(mode: str) -> str:
    """The number key of a console mode: keys follow the capability registry, so tests ask."""
    from nocraven_tui.modes import built_modes

    found = next((m.key for m in built_modes() if m.spec.name == mode), None)
    assert found is not None, f"mode {mode} has no number key"
    return found
