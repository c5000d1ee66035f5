"""`nocraven engine` starts the engine without the CLI in its memory; every other command line,
help and mistakes included, is the CLI's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nocraven.cli.entry import bare_engine_command


@pytest.mark.parametrize(
    ("argv", "config"),
    [
        (["engine"], None),
        (["engine", "--config", "/etc/nocraven/nocraven.toml"], Path("/etc/nocraven/nocraven.toml")),
        (["engine", "--config=site.toml"], Path("site.toml")),
    ],
)
def test_a_bare_engine_command_line_starts_the_engine_directly(argv: list[str], config: Path | None) -> None:
    assert bare_engine_command(argv) == (config,)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status"],
        ["engine", "--help"],
        ["engine", "--config"],
        ["engine", "--config="],
        ["engine", "--config", "--help"],
        ["engine", "--config", "a.toml", "extra"],
        ["engine", "--confg", "a.toml"],
        ["--socket", "/run/x.sock", "engine"],
    ],
)
def test_anything_else_goes_to_the_cli(argv: list[str]) -> None:
    assert bare_engine_command(argv) is None


def test_the_engine_started_as_nocraven_engine_does_not_hold_the_cli() -> None:
    code = (
        "import sys, nocraven.engine.main as engine\n"
        "cli = ('typer', 'pydantic', 'rich')\n"
        "engine.run = lambda config: print(config, [m for m in cli if m in sys.modules]) or 0\n"
        "sys.argv = ['nocraven', 'engine', '--config', 'site.toml']\n"
        "from nocraven.cli.entry import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "site.toml []"
