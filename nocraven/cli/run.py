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

import msgspec
import typer

from collectors.common.lifetime import term_with_parent
from nocraven import config as config_mod
from nocraven.cli.common import err, print_json, state
from nocraven.client import Client, EngineUnreachable
from nocraven.errors import ApiError
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
            with Client(socket_path, timeout=5.0) as c:
                c.status()
            return True
        except (EngineUnreachable, ApiError):  # not there yet, or too busy starting to answer
            time.sleep(0.2)
    return False


def demo(
    no_console: bool = typer.Option(False, "--no-console", help="Run the engine and the simulated venue only."),
    headless: bool = typer.Option(False, "--headless", help="Same as --no-console (for scripts and tests)."),
    duration: float = typer.Option(
        0.0, "--duration", help="With --headless: stop this many seconds after the venue feeds every service."
    ),
    rate: float = typer.Option(200.0, "--rate", help="Simulated venue syslog messages per second."),
    outage_every: float = typer.Option(180.0, "--outage-every", help="Seconds between the NOC's scripted outages."),
    outage_for: float = typer.Option(45.0, "--outage-for", help="How long each NOC outage lasts, in seconds."),
    any_ports: bool = typer.Option(
        False, "--any-ports", help="Listen on ports the kernel picks instead of the default ones (parallel demos)."
    ),
    no_noc: bool = typer.Option(False, "--no-noc", help="Do not start a local nats-server as the NOC."),
    as_json: bool = typer.Option(False, "--json", help="At the end, print what each service received as JSON."),
) -> None:
    """The engine on the embedded default config, a simulated venue feeding it, a local NOC, and the console.

    One Ctrl-C (or q in the console) stops everything the demo started."""
    from nocraven.simulate import demo as demo_mod

    base = config_mod.embedded_default()
    socket_path = base.engine.socket
    data_dir = base.engine.data_dir
    demo_dir = data_dir / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "demo-engine.log"
    _stop_on_signals()
    noc: demo_mod.DemoNoc | None = None
    venue: demo_mod.DemoVenue | None = None
    engine: DemoEngine | None = None
    summary: dict[str, object] = {}
    try:
        binary = None if no_noc else demo_mod.nats_server_binary()
        if binary:
            noc = demo_mod.DemoNoc(binary, demo_dir / "noc", outage_every, outage_for)
            noc.start()
            err.print(f"A local NOC: nats-server with JetStream at {noc.url}.", markup=False)
        elif not no_noc:
            err.print("nats-server is not installed: no NOC (`make demo` as root installs it).", markup=False)
        files = demo_mod.write_demo_config(demo_dir, data_dir, socket_path, noc.url if noc else None, any_ports)
        err.print(f"Starting the engine (config {files.config}, log {log_path}) ...", markup=False)
        engine = DemoEngine(log_path, files.config)
        engine_proc = engine.start()
        if not _wait_for_engine(socket_path, engine_proc, timeout=90):
            raise typer.Exit(_demo_failed(engine_proc, log_path))
        venue = demo_mod.DemoVenue(socket_path, files, rate, lambda line: err.print(line, markup=False))
        venue.start()
        if noc is not None:
            noc.schedule_outages(lambda line: err.print(line, markup=False))
        engine.keep_running()  # "Restart engine" in the console stops it; the demo starts it again
        if no_console or headless:
            err.print("Press Ctrl-C to stop.", markup=False)
            waiting_since, ends = time.monotonic(), float("inf")
            while time.monotonic() < ends:
                if venue.complete.wait(0.2) or time.monotonic() - waiting_since > 180:
                    if duration > 0 and ends == float("inf"):
                        ends = time.monotonic() + duration  # counted from when every service is fed
                    time.sleep(0.2)
        else:
            subprocess.call(_console_argv_for(socket_path))
        summary = _demo_summary(socket_path, noc)
    except KeyboardInterrupt:
        pass
    finally:
        if venue is not None:
            venue.stop()
        if engine is not None:
            engine.stop()
        if noc is not None:
            noc.stop()
        err.print("Demo stopped.", markup=False)
    if summary and as_json:
        print_json(summary)


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (terminal closed) stop the demo like Ctrl-C: everything it started ends."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def _demo_summary(socket_path: Path, noc: object) -> dict[str, object]:
    """What each service holds and what reached the NOC, read back before everything stops."""
    from nocraven.simulate.demo import DemoNoc

    summary: dict[str, object] = {}
    try:
        with Client(socket_path, timeout=30.0) as c:
            stats = c.buffer_stats()
            summary["records"] = {name: s.records for name, s in stats.services.items()}
            summary["forward"] = msgspec.to_builtins(c.forward_status())
    except (EngineUnreachable, ApiError) as exc:
        summary["records"] = None
        summary["error"] = str(exc)
    if isinstance(noc, DemoNoc):
        try:
            summary["noc"] = {"url": noc.url, "outages": noc.outages, "subjects": noc.stream_messages()}
        except Exception as exc:  # the NOC in an outage right now: say so, do not fail the demo
            summary["noc"] = {"url": noc.url, "outages": noc.outages, "error": str(exc)}
    return summary


class DemoEngine:
    """The demo's engine process, restarted whenever it exits (a console's "Restart engine", a
    crash) until the demo ends: the demo is its service manager, as systemd is on a box."""

    def __init__(self, log_path: Path, config_path: Path) -> None:
        self.log_path = log_path
        self.config_path = config_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.restarts = 0

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log_file:
            # Its own session: the console's terminal signals must not reach the engine directly.
            env = dict(os.environ)
            env[config_mod.ENV_CONFIG] = str(self.config_path)
            env["NOCRAVEN_SUPERVISOR"] = "demo"  # nocraven.engine.core.SUPERVISOR_ENV
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nocraven.engine"],
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=term_with_parent,  # a demo killed with SIGKILL takes its engine along
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
