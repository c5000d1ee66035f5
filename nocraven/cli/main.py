"""The `nocraven` command: noun/verb sub-apps over the one client; errors are one stderr line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from nocraven import __version__
from nocraven.capabilities import CAPABILITIES, Capability
from nocraven.cli import buffer, config_cmd, planned, run, status
from nocraven.cli.common import err, state
from nocraven.client import ENV_SOCKET, EngineUnreachable
from nocraven.errors import ApiError
from nocraven.exitcodes import ExitCode, exit_code_for

app = typer.Typer(
    name="nocraven",
    help="NoC Raven: the venue telemetry appliance. Talks to the engine over its control socket.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _global(
    socket: str = typer.Option(None, "--socket", envvar=ENV_SOCKET, help="Engine control socket."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state.socket = Path(socket) if socket else None


app.command("engine")(run.engine)
app.command("console")(run.console)
app.command("web")(run.web)
app.command("demo")(run.demo)
app.command("status")(status.status)
app.add_typer(config_cmd.app, name="config")
# One CLI group per capability (`cli_group` in nocraven.capabilities). Capabilities still to
# come keep the command shapes they will have and answer "not available" (exit 1).
GROUPS: dict[str, typer.Typer] = {
    "buffer": buffer.app,
    "ports": planned.ports,
    "forward": planned.forward,
    "vpn": planned.vpn,
    "diag": planned.diag,
}
COMMANDS = {"health": planned.health}


def add_capabilities(target: typer.Typer, capabilities: tuple[Capability, ...] = CAPABILITIES) -> None:
    for capability in capabilities:
        group = capability.cli_group
        if group is None:
            continue
        if group in COMMANDS:
            target.command(group)(COMMANDS[group])
        elif group in GROUPS:
            target.add_typer(GROUPS[group], name=group)
        else:
            anything = {"allow_extra_args": True, "ignore_unknown_options": True}
            target.command(group, context_settings=anything)(planned.placeholder(capability))


add_capabilities(app)


def main() -> None:
    """Entry point: map every failure to its exit code and one line on stderr, never a traceback."""
    try:
        app()
    except EngineUnreachable as exc:
        err.print(f"nocraven: {exc}", markup=False)
        sys.exit(ExitCode.PERMISSION if exc.denied else ExitCode.UNREACHABLE)
    except ApiError as exc:
        err.print(f"nocraven: {exc.message}", markup=False)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(ExitCode.OK)  # `nocraven buffer tail --follow | head` ends like this
    except Exception as exc:
        logging.getLogger("nocraven.cli").debug("internal error", exc_info=True)
        err.print(f"nocraven: internal error: {type(exc).__name__}: {exc}", markup=False)
        sys.exit(ExitCode.FAILED)


if __name__ == "__main__":
    main()
