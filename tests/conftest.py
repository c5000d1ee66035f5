from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import RunningEngine, start_engine

# A suite started in the background by a non-interactive shell (`make test &`) inherits SIGINT
# ignored, and so would every process the tests start: the tests that stop a demo, a follow or
# a diagnostic with Ctrl-C, as a technician does, would wait for nothing.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RunningEngine]:
    """A real engine process on a temp dir and socket, stopped after the test."""
    running = start_engine(tmp_path / "engine")
    yield running
    running.stop()
