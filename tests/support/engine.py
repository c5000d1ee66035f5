"""Start the real engine (the installed console script) on a temp dir, and run the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

BIN = Path(sys.executable).parent
NOCRAVEN = str(BIN / "nocraven")


def write_config(directory: Path, extra: str = "") -> Path:
    """A config with everything on loopback, ephemeral ports and the data under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nocraven.toml"
    base = f"""
[engine]
data_dir = "{directory / "data"}"
socket = "{directory / "ctl.sock"}"
log_level = "debug"

[syslog]
udp = "127.0.0.1:0"
tcp = "127.0.0.1:0"

[flow]
netflow = ""
ipfix = ""
sflow = ""

[snmptrap]
udp = ""

[winevents]
listen = ""
"""
    path.write_text(_merge(base, extra))
    return path


def _merge(base: str, extra: str) -> str:
    """Keys in `extra` override the base, section by section."""
    data = tomllib.loads(base)
    for section, values in tomllib.loads(extra).items():
        data.setdefault(section, {}).update(values)
    return tomlkit.dumps(data)


def run_cli(
    *args: str,
    socket: Path | None = None,
    timeout: float = 30,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("NOCRAVEN_CONFIG", None)
    if socket is not None:
        full_env["NOCRAVEN_SOCKET"] = str(socket)
    return subprocess.run(
        [NOCRAVEN, *args], capture_output=True, text=True, timeout=timeout, input=input, env=full_env, check=False
    )


@dataclass
class RunningEngine:
    directory: Path
    config_path: Path
    proc: subprocess.Popen[str]
    log_path: Path
    socket: Path = field(init=False)

    def __post_init__(self) -> None:
        self.socket = self.directory / "ctl.sock"

    def cli(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, socket=self.socket, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_engine(
    directory: Path, extra_config: str = "", wait: float = 20, prefix: tuple[str, ...] = ()
) -> RunningEngine:
    """`prefix` runs the engine under another command (e.g. `ip netns exec NS`); the CLI still
    reaches it through its Unix socket, which no network namespace hides."""
    config_path = write_config(directory, extra_config)
    log_path = directory / "engine.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - handed to the child for its whole life
    proc = subprocess.Popen(
        [*prefix, NOCRAVEN, "engine", "--config", str(config_path)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    engine = RunningEngine(directory, config_path, proc, log_path)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}:\n{engine.log()}")
        # status answers 1 when a component failed: the engine is up all the same
        if engine.socket.exists():
            try:
                if engine.cli("status", "--json", timeout=15).returncode in (0, 1):
                    return engine
            except subprocess.TimeoutExpired:
                pass  # a loaded machine: ask again until the deadline
        time.sleep(0.1)
    engine.stop()
    raise RuntimeError(f"engine did not answer within {wait} s:\n{engine.log()}")
