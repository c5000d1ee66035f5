"""Run the engine in the foreground: `nocraven engine` and `nocraven-engine`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from nocraven import config as config_mod
from nocraven.api.server import ListenerFailed, SocketBusy
from nocraven.engine import logs
from nocraven.engine.core import Engine
from nocraven.exitcodes import ExitCode

log = logging.getLogger("nocraven.engine")


async def serve(config: config_mod.Config) -> int:
    engine = Engine(config)
    try:
        await engine.start()
    except SocketBusy as exc:
        print(f"nocraven engine: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except ListenerFailed as exc:
        # The config asks for something this machine cannot give: a usage error naming the key.
        print(f"nocraven: config: {config.source}: {exc}", file=sys.stderr)
        await engine.api.stop()
        return ExitCode.USAGE
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.request_stop, signal.Signals(sig).name)
    await engine.wait_stopped()
    await engine.stop()
    return ExitCode.OK


def run(config_path: Path | None) -> int:
    try:
        config = config_mod.resolve(config_path)
        config_mod.check_environment(config)
    except config_mod.ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"nocraven: config: {line}", file=sys.stderr)
        return ExitCode.USAGE
    logs.configure(config.engine.log_level)
    return asyncio.run(serve(config))


def main() -> None:
    parser = argparse.ArgumentParser(prog="nocraven-engine", description="Run the NoC Raven engine.")
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config (default: $NOCRAVEN_CONFIG or the embedded dev default)",
    )
    args = parser.parse_args()
    sys.exit(run(args.config))
