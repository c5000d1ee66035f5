"""The engine makes its files private with its own umask while it runs; run inside a larger
process (tests, tools), it gives the process its umask back when it stops, so files that process
writes afterwards (a package build, a report) are not private by accident."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nocraven import config as config_mod
from nocraven.engine.core import Engine
from tests.support.engine import write_config


async def test_the_engine_files_are_private_and_the_umask_comes_back(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        engine = Engine(config_mod.load(write_config(tmp_path)))
        await engine.start()
        try:
            inside = tmp_path / "written-while-running"
            inside.write_text("x")
            assert stat.S_IMODE(inside.stat().st_mode) & 0o077 == 0  # private while the engine runs
        finally:
            engine.request_stop("test over")
            await engine.stop()
        after = tmp_path / "written-after"
        after.write_text("x")
        assert stat.S_IMODE(after.stat().st_mode) == 0o644
    finally:
        os.umask(before)
