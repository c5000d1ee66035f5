"""CLI nouns whose engine part is still to come: the commands exist with their final shape and
ask the engine, which answers `not_available` (exit 1) until the capability lands."""

from __future__ import annotations

from collections.abc import Callable

from nocraven.capabilities import Capability
from nocraven.cli.common import fail
from nocraven.exitcodes import ExitCode


def placeholder(capability: Capability) -> Callable[[], None]:
    """The CLI command of a capability this build does not have: whatever follows it, it says
    so (exit 1), as the engine does for its API paths."""

    def not_built() -> None:
        raise fail(f"{capability.description} is not available in this build", ExitCode.FAILED)

    not_built.__doc__ = f"{capability.title}: not available in this build."
    return not_built
