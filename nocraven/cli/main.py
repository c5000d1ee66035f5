"""The `nocraven` command: noun/verb sub-apps over the one client; errors are one stderr line."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer._click import exceptions as click  # typer 0.2x carries its own click

from nocraven import __version__
from nocraven.capabilities import CAPABILITIES, Capability
from nocraven.cli import (
    buffer,
    config_cmd,
    diag,
    flow,
    forward,
    health,
    planned,
    ports,
    run,
    snmp,
    status,
    traps,
    vpn,
    winevents,
)
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
    "flow": flow.app,
    "traps": traps.app,
    "snmp": snmp.app,
    "winevents": winevents.app,
    "ports": ports.app,
    "forward": forward.app,
    "vpn": vpn.app,
    "diag": diag.app,
}
COMMANDS = {"health": health.health}


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


def _click_classes(name: str) -> tuple[type[Exception], ...]:
    """Click's exception class and, where typer carries a click of its own, typer's."""
    classes: list[type[Exception]] = [getattr(click, name)]
    with contextlib.suppress(ImportError, AttributeError):
        classes.append(getattr(importlib.import_module("typer._click.exceptions"), name))
    return tuple(classes)


def _message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message()) if callable(format_message) else str(exc)


USAGE_ERRORS = _click_classes("UsageError")
CLICK_ERRORS = _click_classes("ClickException")


class OutputClosed(Exception):
    """Whoever read our standard output stopped (`| head`): not an error, the end."""


class _PipeAware:
    """Standard output (text or its binary buffer) whose closed reader ends the command quietly:
    click would turn the BrokenPipeError into exit 1."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except (BrokenPipeError, OutputClosed):
            raise OutputClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, OutputClosed):
            raise OutputClosed from None

    @property
    def buffer(self) -> _PipeAware:
        return _PipeAware(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """Entry point: map every failure to its exit code and one line on stderr, never a traceback."""
    sys.stdout = _PipeAware(sys.stdout)
    try:
        code = app(standalone_mode=False)
    except USAGE_ERRORS as exc:
        # One line, like every other error; --help says the rest.
        where = getattr(getattr(exc, "ctx", None), "command_path", None) or "nocraven"
        err.print(f"nocraven: {_message(exc)} (see `{where} --help`)", markup=False)
        sys.exit(ExitCode.USAGE)
    except typer.Abort:
        sys.exit(130)
    except CLICK_ERRORS as exc:
        err.print(f"nocraven: {_message(exc)}", markup=False)
        sys.exit(int(getattr(exc, "exit_code", ExitCode.FAILED)))
    except EngineUnreachable as exc:
        err.print(f"nocraven: {exc}", markup=False)
        sys.exit(ExitCode.PERMISSION if exc.denied else ExitCode.UNREACHABLE)
    except ApiError as exc:
        err.print(f"nocraven: {exc.message}", markup=False)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except (BrokenPipeError, OutputClosed):
        # `nocraven buffer tail --follow | head` ends like this: quietly, and with nothing left
        # for the interpreter to fail flushing at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    except Exception as exc:
        logging.getLogger("nocraven.cli").debug("internal error", exc_info=True)
        err.print(f"nocraven: internal error: {type(exc).__name__}: {exc}", markup=False)
        sys.exit(ExitCode.FAILED)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


if __name__ == "__main__":
    main()
