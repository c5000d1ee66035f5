"""CLI nouns whose engine part is still to come: the commands exist with their final shape and
ask the engine, which answers `not_available` (exit 1) until the capability lands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from nocraven.capabilities import Capability
from nocraven.cli.common import JsonOption, client, emit, fail, print_json
from nocraven.exitcodes import ExitCode

ports = typer.Typer(help="Listener ports: list, change.", no_args_is_help=True)


def _show(data: Any, as_json: bool) -> None:
    emit(data, as_json, print_json)


def _get(path: str, as_json: bool, **params: Any) -> None:
    with client() as c:
        _show(c.get(path, **params), as_json)


def _post(path: str, body: dict[str, Any], timeout: float = 10.0) -> None:
    with client(timeout) as c:
        print_json(c.post(path, body, timeout=timeout))


@ports.command("list")
def ports_list(as_json: bool = JsonOption) -> None:
    """Every listener, its address and its state."""
    _get("/v1/ports", as_json)


@ports.command("set")
def ports_set(
    listener: str = typer.Argument(..., metavar="SERVICE.LISTENER", help="e.g. syslog.udp"),
    address: str = typer.Argument(..., metavar="HOST:PORT"),
) -> None:
    """Move a listener to another address, live."""
    _post("/v1/ports/set", {"listener": listener, "address": address})


def placeholder(capability: Capability) -> Callable[[], None]:
    """The CLI command of a capability this build does not have: whatever follows it, it says
    so (exit 1), as the engine does for its API paths."""

    def not_built() -> None:
        raise fail(f"{capability.description} is not available in this build", ExitCode.FAILED)

    not_built.__doc__ = f"{capability.title}: not available in this build."
    return not_built
