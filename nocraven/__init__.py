"""NoC Raven: the on-site telemetry appliance's engine, control API, client and CLI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nocraven")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
