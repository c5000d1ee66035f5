"""`nocraven config check [PATH]`: the engine's own validation, without starting anything."""

from __future__ import annotations

from pathlib import Path

import typer

from nocraven import config as config_mod
from nocraven.cli.common import JsonOption, err, print_json
from nocraven.exitcodes import ExitCode

app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@app.command("check")
def check(
    path: Path = typer.Argument(None, help="TOML file (default: $NOCRAVEN_CONFIG or the embedded default)"),
    as_json: bool = JsonOption,
) -> None:
    """Validate a config file exactly as the engine does at start."""
    try:
        config = config_mod.resolve(path)
        config_mod.check_environment(config)
    except config_mod.ConfigError as exc:
        if as_json:
            print_json({"ok": False, "source": exc.source, "problems": exc.problems})
        else:
            for line in str(exc).splitlines():
                err.print(f"nocraven: config: {line}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from None
    if as_json:
        print_json({"ok": True, "source": config.source, "config": config_mod.to_dict(config)})
    else:
        err.print(f"{config.source}: ok", markup=False)
