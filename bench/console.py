"""Console benchmark: first paint, mode-switch latency, CPU idle and under a 10,000 records/s tail.

The console runs for real (`nocraven-console` on a pseudo-terminal, 80x24) against a real engine
started on a temp socket; timings are from the key or the spawn to the bytes on the terminal.
The 10k/s tail is measured twice: in-process (RecordsSampled messages injected into the app at
10,000 records/s, as the engine cannot send that many: it samples at most a few hundred a
second), and end to end (syslog at 10,000 msgs/s into the engine while the console shows Live),
when this engine build has a syslog collector.

Prints one JSON document. Bounded in time (about a minute). Usage: python bench/console.py
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import platform
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nocraven.client import Client, EngineUnreachable
from tests.support.engine import write_config

BIN = Path(sys.executable).parent
TARGETS = {"first_paint_s": 1.0, "mode_switch_s": 0.1, "idle_cpu_percent": 5.0}
SIZE = (80, 24)
IDLE_S = 10.0
TAIL_S = 10.0
TAIL_RATE = 10_000
SWITCH_ROUNDS = 5
STARTS = 5
# What each mode must make appear on the terminal (by mode name: keys follow the registry).
MODE_MARKERS = {
    "buffer": ("Services", "Drops by reason"),
    "live": ("following",),
    "forwarding": ("Sinks", "No sink configured"),
    "system": ("Interfaces",),
    "dashboard": ("Components",),
}


def mode_key(mode: str) -> str:
    """The key that opens a console mode, as the console itself assigns it."""
    from nocraven_tui.modes import built_modes

    return next(m.key for m in built_modes() if m.spec.name == mode)


# ---- a real engine -----------------------------------------------------------------------------


def start_engine(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    config = write_config(directory)
    log = open(directory / "engine.log", "wb")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([str(BIN / "nocraven"), "engine", "--config", str(config)], stdout=log, stderr=log)
    sock = directory / "ctl.sock"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with Client(sock, timeout=1) as client:
                client.status()
            return proc, sock
        except EngineUnreachable:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("bench/console.py: the engine did not start; see " + str(directory / "engine.log"))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- the console on a pseudo-terminal ------------------------------------------------------------


class Terminal:
    def __init__(self, socket_path: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "NOCRAVEN_SOCKET": str(socket_path), "LANG": "C.UTF-8"}
        env.pop("NOCRAVEN_CONSOLE_PLAIN", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN / "nocraven-console")], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.psutil = psutil.Process(self.proc.pid)

    def read_until(self, markers: tuple[str, ...], timeout: float = 10.0) -> float:
        """Seconds until any marker shows in what the console writes from now on."""
        started = time.perf_counter()
        seen = ""
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                seen += os.read(self.master, 65536).decode(errors="replace")
                if any(marker in seen for marker in markers):
                    return time.perf_counter()
        raise SystemExit(f"bench/console.py: {markers} never appeared; last output: {seen[-500:]!r}")

    def drain(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                os.read(self.master, 65536)

    def press(self, key: str) -> float:
        sent = time.perf_counter()
        os.write(self.master, key.encode())
        return sent

    def cpu_seconds(self) -> float:
        times = self.psutil.cpu_times()
        return float(times.user + times.system)

    def cpu_percent_over(self, seconds: float) -> float:
        before_cpu, before = self.cpu_seconds(), time.perf_counter()
        self.drain(seconds)
        return 100.0 * (self.cpu_seconds() - before_cpu) / (time.perf_counter() - before)

    def close(self) -> None:
        os.write(self.master, b"q")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.master)


def measure_starts(socket_path: Path) -> dict[str, Any]:
    """Cold starts: spawn to the first frame, and to the first frame with the engine's data."""
    frames, data = [], []
    for _ in range(STARTS):
        term = Terminal(socket_path)
        try:
            frames.append(term.read_until(("1 Dashboard",)) - term.started)
            data.append(term.read_until(("engine up",)) - term.started)
        finally:
            term.close()
    return {
        "first_frame_s": round(statistics.median(frames), 3),
        "first_paint_with_engine_data_s": round(statistics.median(data), 3),
        "first_paint_runs_s": [round(d, 3) for d in data],
    }


def measure_terminal(socket_path: Path) -> dict[str, Any]:
    term = Terminal(socket_path)
    try:
        term.read_until(("engine up",))
        term.drain(1.5)  # let the first counters land and the screens settle
        first_visit: dict[str, float] = {}
        repeat: list[float] = []
        for round_ in range(SWITCH_ROUNDS):
            for mode, markers in MODE_MARKERS.items():
                sent = term.press(mode_key(mode))
                latency = term.read_until(markers) - sent
                if round_ == 0:
                    first_visit[mode] = latency
                else:
                    repeat.append(latency)
                term.drain(0.15)
        term.press(mode_key("dashboard"))
        term.drain(2.0)
        idle = term.cpu_percent_over(IDLE_S)
        return {
            "mode_switch_first_visit_s": {k: round(v, 4) for k, v in first_visit.items()},
            "mode_switch_median_s": round(statistics.median(repeat), 4),
            "mode_switch_p95_s": round(sorted(repeat)[int(len(repeat) * 0.95) - 1], 4),
            "idle_dashboard_cpu_percent": round(idle, 2),
            "rss_mib": round(term.psutil.memory_info().rss / 2**20, 1),
        }
    finally:
        term.close()


# ---- the live tail at 10,000 records/s -------------------------------------------------------------


def syslog_target(socket_path: Path) -> tuple[str, int] | None:
    from nocraven.schema.collector import CollectorStatus

    with Client(socket_path) as client:
        syslog = client.status().components.get("syslog")
    if syslog is None or syslog.state != "running":
        return None
    for listener in syslog.detail_as(CollectorStatus).listeners:
        if listener.proto == "udp":
            host, _, port = listener.address.rpartition(":")
            return host, int(port)
    return None


def send_syslog(target: tuple[str, int], rate: int, seconds: float) -> int:
    """Paced UDP syslog from this process (a child of the bench, not the console)."""
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            message = f"<134>Nov 27 06:00:00 bench-host-{sent % 50} app[1]: bench record {sent} from the console bench"
            sender.sendto(message.encode(), target)
            sent += 1
        time.sleep(0.002)
    sender.close()
    return sent


def measure_engine_tail(socket_path: Path) -> dict[str, Any]:
    target = syslog_target(socket_path)
    if target is None:
        return {"skipped": "this engine build has no running syslog collector"}
    term = Terminal(socket_path)
    try:
        term.read_until(("engine up",))
        term.press(mode_key("live"))
        term.read_until(("following",))
        term.drain(1.0)
        before_cpu, before = term.cpu_seconds(), time.perf_counter()
        sender = subprocess.Popen(
            [sys.executable, __file__, "--send", f"{target[0]}:{target[1]}", str(TAIL_RATE), str(TAIL_S)],
            stdout=subprocess.PIPE,
        )
        term.drain(TAIL_S)
        cpu = 100.0 * (term.cpu_seconds() - before_cpu) / (time.perf_counter() - before)
        sent = int((sender.communicate(timeout=30)[0] or b"0").strip() or 0)
        switch_sent = term.press(mode_key("dashboard"))
        switch = term.read_until(MODE_MARKERS["dashboard"]) - switch_sent
        return {
            "source": "syslog over UDP into the engine; the engine samples records into the watch stream",
            "sent_msgs": sent,
            "sent_rate_mps": round(sent / TAIL_S),
            "console_cpu_percent": round(cpu, 2),
            "mode_switch_after_s": round(switch, 4),
        }
    finally:
        term.close()


async def inprocess_tail() -> dict[str, Any]:
    """RecordsSampled injected into a headless app at TAIL_RATE; CPU of this process meanwhile."""
    from nocraven.schema.engine import EngineStatus
    from nocraven_tui import messages
    from nocraven_tui.app import NocRavenApp

    batch = 100
    records = [
        [
            {
                "service": "syslog",
                "received_at": "2026-11-27T06:00:00.000Z",
                "source": f"10.30.{n % 200}.{i}:514",
                "severity": 6,
                "hostname": f"edge-{i % 40}",
                "app_name": "kernel",
                "message": f"injected record {n * batch + i}",
            }
            for i in range(batch)
        ]
        for n in range(100)
    ]
    app = NocRavenApp(connect=False)
    async with app.run_test(size=SIZE) as pilot:
        status = EngineStatus(
            version="bench",
            hostname="bench",
            pid=os.getpid(),
            started_at=time.time() - 1,
            uptime_s=1,
            config="-",
            socket="-",
            api_tcp=None,
            watchers=1,
            components={},
            role="admin",
        )
        app.post_message(messages.SnapshotReceived(1, status))
        await pilot.press(mode_key("live"))
        await asyncio.sleep(1.0)  # the app composes its other screens once after the first snapshot
        period = batch / TAIL_RATE
        started = time.perf_counter()
        cpu_before = time.process_time()
        sent = 0
        while (elapsed := time.perf_counter() - started) < TAIL_S:
            while sent < int(elapsed / period):
                app.post_message(messages.RecordsSampled("syslog", records[sent % 100], total=batch))
                sent += 1
            await asyncio.sleep(period / 2)
        cpu = 100.0 * (time.process_time() - cpu_before) / (time.perf_counter() - started)
        switch_started = time.perf_counter()
        await pilot.press(mode_key("dashboard"))
        await pilot.pause()
        switch = time.perf_counter() - switch_started
        ring = app.state.live
        return {
            "source": "in-process: RecordsSampled messages posted to the app (headless, 80x24)",
            "injected_records": sent * batch,
            "injected_rate_rps": round(sent * batch / TAIL_S),
            "messages_per_s": round(sent / TAIL_S),
            "records_per_message": batch,
            "cpu_percent": round(cpu, 2),
            "ring_len": len(ring.records),
            "ring_capacity": ring.capacity,
            "mode_switch_after_s_via_pilot": round(switch, 4),  # includes Pilot's own settling waits
        }


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--send":
        host, _, port = sys.argv[2].rpartition(":")
        print(send_syslog((host, int(port)), int(sys.argv[3]), float(sys.argv[4])))
        return
    with tempfile.TemporaryDirectory(prefix="nocraven-bench-console-") as tmp:
        engine, socket_path = start_engine(Path(tmp))
        try:
            with Client(socket_path) as client:
                status = client.status()
            terminal = measure_starts(socket_path) | measure_terminal(socket_path)
            engine_tail = measure_engine_tail(socket_path)
        finally:
            stop(engine)
    tail = asyncio.run(inprocess_tail())
    result = {
        "bench": "console",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "terminal": f"{SIZE[0]}x{SIZE[1]} pty, TERM=xterm-256color",
        "engine_components": sorted(k for k, v in status.components.items() if v.state != "not_available"),
        **terminal,
        "live_tail_10k_inprocess": tail,
        "live_tail_10k_engine": engine_tail,
        "targets": TARGETS,
        "met": {
            "first_paint": terminal["first_paint_with_engine_data_s"] < TARGETS["first_paint_s"],
            "mode_switch": terminal["mode_switch_median_s"] < TARGETS["mode_switch_s"],
            "idle_cpu": terminal["idle_dashboard_cpu_percent"] < TARGETS["idle_cpu_percent"],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
