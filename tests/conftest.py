from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import RunningEngine, start_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RunningEngine]:
    """A real engine process on a temp dir and socket, stopped after the test."""
    running = start_engine(tmp_path / "engine")
    yield running
    running.stop()
