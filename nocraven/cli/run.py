"""Commands that run things in the foreground: engine, console, web panel, demo.

The console lives in nocraven_tui, which the engine side never imports: these commands start it
as its own process (`python -m nocraven_tui`), so `nocraven` stays free of Textual.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import typer

from nocraven import config as config_mod
from nocraven.cli.common import err, state
from nocraven.client import Client, EngineUnreachable
from nocraven.exitcodes import ExitCode


def engine(
    config: Path = typer.Option(
        None, "--config", help="TOML config (default: $NOCRAVEN_CONFIG or the embedded dev default)"
    ),
) -> None:
    """Run the engine in the foreground (what the systemd unit runs)."""
    from nocraven.engine.main import run

    raise typer.Exit(run(config))


def _console_argv(*extra: str) -> list[str]:
    argv = [sys.executable, "-m", "nocraven_tui"]
    if state.socket:
        argv += ["--socket", str(state.socket)]
    return argv + list(extra)


def console() -> None:
    """The full-screen console (also installed as nocraven-console)."""
    os.execv(sys.executable, _console_argv())


def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on; keep it local or on the VPN."),
    port: int = typer.Option(8090, "--port"),
) -> None:
    """Serve the console in a browser; prints the token it requires."""
    os.execv(sys.executable, _console_argv("web", "--host", host, "--port", str(port)))


def _wait_for_engine(socket_path: Path, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with Client(socket_path, timeout=1.0) as c:
                c.status()
            return True
        except EngineUnreachable:
            time.sleep(0.1)
    return False


def demo(
    no_console: bool = typer.Option(False, "--no-console", help="Run the engine and the simulated venue only."),
    rate: float = typer.Option(200.0, "--rate", help="Simulated venue syslog messages per second."),
) -> None:
    """The engine on the embedded default config, a simulated venue feeding it, and the console.

    One Ctrl-C (or q in the console) stops all three."""
    config = config_mod.embedded_default()
    socket_path = config.engine.socket
    log_path = config.engine.data_dir / "demo-engine.log"
    config.engine.data_dir.mkdir(parents=True, exist_ok=True)
    err.print(f"Starting the engine (socket {socket_path}, log {log_path}) ...", markup=False)
    engine = DemoEngine(log_path)
    engine_proc = engine.start()
    venue: subprocess.Popen[bytes] | None = None
    try:
        if not _wait_for_engine(socket_path, engine_proc, timeout=20):
            raise typer.Exit(_demo_failed(engine_proc, log_path))
        udp_port = config_mod.parse_listen(config.syslog.udp)[1] if config.syslog.udp else None
        if udp_port:
            venue = subprocess.Popen(
                [sys.executable, "-m", "nocraven.simulate.venue", "--port", str(udp_port), "--rate", str(rate)],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        err.print(
            f"Engine ready; a simulated venue sends {rate:g} syslog messages/s to 127.0.0.1:{udp_port}.", markup=False
        )
        engine.keep_running()  # "Restart engine" in the console stops it; the demo starts it again
        if no_console:
            err.print("Press Ctrl-C to stop.", markup=False)
            while True:
                time.sleep(0.5)
        else:
            subprocess.call(_console_argv_for(socket_path))
    except KeyboardInterrupt:
        pass
    finally:
        if venue is not None:
            venue.terminate()
            venue.wait(5)
        engine.stop()
        err.print("Demo stopped.", markup=False)


class DemoEngine:
    """The demo's engine process, restarted whenever it exits (a console's "Restart engine", a
    crash) until the demo ends: the demo is its service manager, as systemd is on a box."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.restarts = 0

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log_file:
            # Its own session: the console's terminal signals must not reach the engine directly.
            env = {k: v for k, v in os.environ.items() if k != config_mod.ENV_CONFIG}
            env["NOCRAVEN_SUPERVISOR"] = "demo"  # nocraven.engine.core.SUPERVISOR_ENV
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nocraven.engine"],
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                env=env,
            )
        return self.proc

    def keep_running(self) -> None:
        threading.Thread(target=self._watch, name="demo-engine", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.wait(0.3):
            with self._lock:
                proc = self.proc
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                proc.wait()  # reaped: no zombie left behind
                self.restarts += 1
                self.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _console_argv_for(socket_path: Path) -> list[str]:
    return [sys.executable, "-m", "nocraven_tui", "--socket", str(socket_path)]


def _demo_failed(proc: subprocess.Popen[bytes], log_path: Path) -> int:
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:] if log_path.exists() else []
    err.print("nocraven: the demo engine did not come up; its last log lines:", markup=False)
    for line in tail:
        err.print(f"  {line}", markup=False)
    if proc.poll() is None:
        proc.kill()
    return ExitCode.FAILED
