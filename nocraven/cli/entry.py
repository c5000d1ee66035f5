"""The `nocraven` command. `nocraven engine` (what the systemd unit runs) starts the engine
without loading the CLI first: typer, the client and what typer imports to parse options
(pydantic) would stay in the engine's memory for its whole life, ~15 MiB of it. Every other
command line, `nocraven engine --help` and mistakes included, goes to the CLI as before."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from nocraven.exitcodes import ExitCode


def bare_engine_command(args: list[str]) -> tuple[Path | None] | None:
    """`(config,)` for `engine`, `engine --config PATH` or `engine --config=PATH` (config None:
    the default); None for any other command line."""
    if args[:1] != ["engine"]:
        return None
    rest = args[1:]
    if not rest:
        return (None,)
    if len(rest) == 2 and rest[0] == "--config" and rest[1] and not rest[1].startswith("-"):
        return (Path(rest[1]),)
    if len(rest) == 1 and rest[0].startswith("--config=") and len(rest[0]) > len("--config="):
        return (Path(rest[0].removeprefix("--config=")),)
    return None


def main() -> None:
    engine = bare_engine_command(sys.argv[1:])
    if engine is None:
        from nocraven.cli.main import main as cli_main

        cli_main()
        return
    from nocraven.engine.main import run

    # The same endings as the CLI's: an exit code, and one line rather than a traceback.
    try:
        code = run(engine[0])
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        logging.getLogger("nocraven.cli").debug("internal error", exc_info=True)
        print(f"nocraven: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(ExitCode.FAILED)
    sys.exit(code)
