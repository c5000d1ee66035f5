"""Syslog ingest benchmark: sustained UDP and TCP ingest, end to end, NoC Raven beside rsyslog.

A real engine (`nocraven engine`, collector processes and buffer included) and a real rsyslog
(imudp/imtcp into a file) each receive the same load from the C generator (`bench/loadgen.c`,
built here when missing). Loss is what the generator sent minus what was stored: records
in the buffer for NoC Raven, lines in the output file for rsyslog. For each transport the
result is the highest rate kept with < 0.1 % loss (median over the repeats), and the ratio
ours/rsyslog. UDP runs 10 s a rate and 30 s at the headline rate; TCP, which pushes back
instead of losing, also reports what an unthrottled sender achieves.

Only 127.0.0.1; bounded in time (about 7 minutes with the defaults). No sysctl is changed:
as root, both receivers get their receive buffer with SO_RCVBUFFORCE whatever
net.core.rmem_max says. The generator is pinned to the last core; on machines with more than
two cores the receivers are pinned to the others, on two they may use both.

Prints one JSON document on stdout; progress goes to stderr.
With --short the whole run takes about a minute (two UDP rates for 1 s each, bounded TCP
runs): numbers to compare before and after a change on a busy machine, not a result.

Beside the rates, the JSON says where NoC Raven's CPU goes: per run, the receiver's CPU
microseconds per message split by process (engine, collector, UDP and stream workers), and
once, the CPU per message of each stage measured alone (`bench/syslog_stages.py`), which a
shared machine disturbs far less than a rate. `nocraven_memory` is the engine's RSS.
Usage: python bench/syslog.py [--quick | --short] [--only nocraven|rsyslog] [--repeat N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procstat import cpu_ticks, process_tree, ticks_by_role, udp_drops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.engine import write_config  # noqa: E402 - the same test config as the suite

LOADGEN_SRC = ROOT / "bench" / "loadgen.c"
LOADGEN = ROOT / "bench" / "bin" / "loadgen"
NOCRAVEN = Path(sys.executable).parent / "nocraven"

LOSS_LIMIT_PCT = 0.1
UDP_RATES = (50_000, 100_000, 150_000, 200_000, 250_000)
TCP_RATES = (100_000, 200_000, 400_000)
HEADLINE_RATE = 100_000
HEADLINE_S = 30.0
RUN_S = 10.0
# 32 MiB holds ~80,000 datagrams of this mix (~0.8 s at 100k/s) against scheduling hiccups;
# rsyslog gets the same.
RECEIVE_BUFFER_BYTES = 32 * 1024 * 1024
SOURCE_PORTS = 4  # the generator sends from this many sockets, like a few devices
CLEARLY_FAILED_PCT = 5.0  # a run losing more is not repeated, and two such rates end the ladder
SETTLE_S = 1.5  # quiet time between runs, for the receivers to drain
DRAIN_TIMEOUT_S = 20.0
# Polls without a new stored record before a run counts as drained: on a busy machine the
# pipeline can stall for a second or two and still deliver everything.
POLL_S = 0.2
STILL_POLLS = 12
EVICTIONS = frozenset({"quota", "age", "total_budget"})  # drop reasons for records already stored
TCP_UNTHROTTLED = (10_000_000, 1_500_000)  # rate, count
TCP_CONNECTIONS = (1, 4)  # unthrottled TCP over one connection, then over several
SHORT_UDP_RATES = (100_000, 200_000)
SHORT_TCP_COUNT = 100_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- machine ------------------------------------------------------------------------------------


# Which part of NoC Raven a process is, by its command line (the engine is the tree's root).
ROLES = (
    ("collectors.syslog.udp_worker", "udp_workers"),
    ("collectors.syslog.stream_worker", "stream_workers"),
    ("collectors.syslog.service", "collector"),
)


def memory_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak) of a process, in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_facts() -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    rsyslog = subprocess.run(["rsyslogd", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "nproc": len(cpus),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rsyslog": rsyslog[0].split(" compiled")[0].split(maxsplit=1)[-1] if rsyslog else None,
        "load_average_start": list(os.getloadavg()),
        "net_core_rmem_max": int(Path("/proc/sys/net/core/rmem_max").read_text()),
        "root": os.geteuid() == 0,
    }


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_loadgen() -> None:
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return
    LOADGEN.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {LOADGEN}")
    subprocess.run(["cc", "-O2", "-o", str(LOADGEN), str(LOADGEN_SRC)], check=True)


# ---- receivers ------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A receiver under test: its ports, how to count what it stored, its processes."""

    name: str
    udp_port: int
    tcp_port: int
    proc: subprocess.Popen[bytes]
    stored: Callable[[], int]
    counters: Callable[[], dict[str, int]] = field(default=lambda: {})
    before_run: Callable[[], None] = field(default=lambda: None)

    def cpu_ticks(self) -> int:
        return cpu_ticks(process_tree(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=30)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


def api_json(socket_path: Path, path: str) -> dict[str, Any]:
    """GET an engine API path on its control socket. Not the CLI: on a busy machine starting
    a Python process per poll took seconds, and the bench polls often."""
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")
        data: dict[str, Any] = json.loads(body)
        return data
    finally:
        connection.close()


def start_nocraven(directory: Path, receivers_cpus: list[int] | None) -> Receiver:
    directory.mkdir(parents=True)
    socket_path = directory / "ctl.sock"
    config = write_config(
        directory,
        f"""[engine]
log_level = "info"

[syslog]
receive_buffer_bytes = {RECEIVE_BUFFER_BYTES}

[buffer]
total_bytes = {32 * 1024**3}

[buffer.services.syslog]
quota_bytes = {32 * 1024**3}
""",
    )
    command = [str(NOCRAVEN), "engine", "--config", str(config)]
    if receivers_cpus:
        command = ["taskset", "-c", ",".join(map(str, receivers_cpus)), *command]
    log_file = open(directory / "engine.log", "wb")  # noqa: SIM115 - the engine's for its whole life
    # Its own session, as a daemon has: the scheduler's autogroups then share the CPU between
    # it, the generator and whatever else runs, rather than charging all to one group.
    proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"engine did not start: {(directory / 'engine.log').read_text(errors='replace')}")
        if socket_path.exists():
            try:
                status = api_json(socket_path, "/v1/status")
            except (OSError, RuntimeError):
                status = {}
            listeners = status.get("components", {}).get("syslog", {}).get("detail", {}).get("listeners", [])
            ports = {lst["proto"]: int(lst["address"].rpartition(":")[2]) for lst in listeners}
            if {"udp", "tcp"} <= ports.keys():
                break
        time.sleep(0.2)

    def stored() -> int:
        # Held now, plus what the buffer stored and then evicted for its quota or budget: a run
        # that fills the service's quota must not count its evictions as messages lost.
        syslog = api_json(socket_path, "/v1/buffer/stats")["services"]["syslog"]
        evicted = sum(int(c["records"]) for reason, c in syslog["dropped_by_reason"].items() if reason in EVICTIONS)
        return int(syslog["records"]) + int(syslog["unsealed_records"]) + evicted

    def counters() -> dict[str, int]:
        totals = api_json(socket_path, "/v1/status")["components"]["syslog"]["detail"]["totals"]
        return {key: int(totals[key]) for key in ("messages", "kernel_drops", "rejected", "records_stored")}

    return Receiver("nocraven", ports["udp"], ports["tcp"], proc, stored, counters)


def start_rsyslog(directory: Path, receivers_cpus: list[int] | None) -> Receiver:
    (directory / "work").mkdir(parents=True)
    out = directory / "out.log"
    udp_port, tcp_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    conf = directory / "rsyslog.conf"
    conf.write_text(
        f"""global(workDirectory="{directory / "work"}" maxMessageSize="64k")
$RepeatedMsgReduction off
module(load="imudp")
module(load="imtcp")
template(name="plain" type="string" string="%rawmsg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="plain")
}}
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="bench" rcvbufSize="{RECEIVE_BUFFER_BYTES}")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="bench")
"""
    )
    command = ["rsyslogd", "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")]
    if receivers_cpus:
        command = ["taskset", "-c", ",".join(map(str, receivers_cpus)), *command]
    log_file = open(directory / "rsyslog.log", "wb")  # noqa: SIM115 - rsyslog's for its whole life
    proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while not (bound("udp", udp_port) and bound("tcp", tcp_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"rsyslog did not start: {(directory / 'rsyslog.log').read_text(errors='replace')}")
        time.sleep(0.1)
    counted = {"lines": 0, "offset": 0}

    def stored() -> int:
        # Read on from where the last count stopped; the file is emptied after each run.
        if not out.exists():
            return counted["lines"]
        with open(out, "rb") as f:
            f.seek(counted["offset"])
            while chunk := f.read(1 << 22):
                counted["lines"] += chunk.count(b"\n")
                counted["offset"] += len(chunk)
        return counted["lines"]

    def truncate() -> None:
        # Everything in it is counted; emptying it keeps the disk use of the bench small.
        if out.exists():
            stored()
            os.truncate(out, 0)
            counted["offset"] = 0

    return Receiver("rsyslog", udp_port, tcp_port, proc, stored, before_run=truncate)


def bound(proto: str, port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (/proc/net/udp or /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    return any(line.split()[1] == local for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:])


# ---- runs ---------------------------------------------------------------------------------------------


def wait_until_stored(receiver: Receiver, before: int, sent: int) -> tuple[int, float]:
    """Poll the stored count until it has everything or stops growing; (count, seconds waited)."""
    start = time.monotonic()
    last, still = -1, 0
    while True:
        count = receiver.stored() - before
        if count >= sent or time.monotonic() - start > DRAIN_TIMEOUT_S:
            return count, time.monotonic() - start
        still = still + 1 if count == last else 0
        if still >= STILL_POLLS:
            return count, time.monotonic() - start
        last = count
        time.sleep(POLL_S)


def generate(
    proto: str, port: int, rate: int, count: int, connections: int, generator_cpu: int | None
) -> dict[str, Any]:
    """Run the generator: one process per TCP connection (rate and count split between them),
    one for UDP. Returns what was sent, over the longest sender's time."""
    commands = []
    for _ in range(connections if proto == "tcp" else 1):
        share = connections if proto == "tcp" else 1
        command = [str(LOADGEN), proto, "127.0.0.1", str(port), str(max(1, rate // share)), str(count // share)]
        if proto == "udp":
            command.append(str(SOURCE_PORTS))
        if generator_cpu is not None:
            command = ["taskset", "-c", str(generator_cpu), *command]
        commands.append(command)
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in commands]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=700)
        if proc.returncode:
            raise RuntimeError(f"generator failed: {proc.args!r}")
        results.append(json.loads(out))
    sent = sum(int(r["sent"]) for r in results)
    seconds = max(float(r["seconds"]) for r in results)
    return {"sent": sent, "seconds": seconds, "rate": round(sent / max(seconds, 1e-9))}


def run_once(
    receiver: Receiver, proto: str, rate: int, count: int, generator_cpu: int | None, connections: int = 1
) -> dict[str, Any]:
    port = receiver.udp_port if proto == "udp" else receiver.tcp_port
    receiver.before_run()
    before = receiver.stored()
    drops_before = udp_drops(receiver.udp_port)
    counters_before = receiver.counters()
    root_role = "engine" if receiver.name == "nocraven" else receiver.name
    roles_before = ticks_by_role(receiver.proc.pid, root_role, ROLES)
    ticks_before = sum(roles_before.values())
    generator = generate(proto, port, rate, count, connections, generator_cpu)
    ticks_load = receiver.cpu_ticks()
    stored, drain_s = wait_until_stored(receiver, before, generator["sent"])
    roles_after = ticks_by_role(receiver.proc.pid, root_role, ROLES)
    ticks_after = sum(roles_after.values())
    counters_after = receiver.counters()
    sent = int(generator["sent"])
    lost = sent - stored
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    result = {
        "rate": rate,
        "connections": connections if proto == "tcp" else None,
        "sent": sent,
        "generator_rate": generator["rate"],
        "generator_seconds": generator["seconds"],
        "stored": stored,
        "lost": lost,
        "loss_pct": round(100.0 * lost / sent, 4) if sent else 0.0,
        "kernel_drops": udp_drops(receiver.udp_port) - drops_before if proto == "udp" else None,
        "drain_s": round(drain_s, 2),
        # What was stored over the whole time it took, sending and draining: for TCP, where
        # the kernel's socket buffers let the sender finish well before the receiver has read
        # it all, this is the receiver's own pace.
        "stored_per_s": round(stored / max(float(generator["seconds"]) + drain_s, 1e-9)),
        # CPU of the receiver's processes during the send and until everything was stored
        # (the polling after the send adds little: a few CLI calls are not in this tree).
        "receiver_cpu_us_per_msg": round((ticks_after - ticks_before) / os.sysconf("SC_CLK_TCK") * 1e6 / sent, 2),
        "receiver_cores_during_send": round(
            (ticks_load - ticks_before) / os.sysconf("SC_CLK_TCK") / max(generator["seconds"], 1e-9), 2
        ),
        # The same CPU split by process (engine, collector main process, its workers): clock
        # ticks of 10 ms, so meaningful over runs of a second or more.
        "receiver_cpu_us_per_msg_by_process": {
            role: round((roles_after.get(role, 0) - roles_before.get(role, 0)) * tick_us / max(sent, 1), 2)
            for role in sorted(roles_after)
        },
    }
    if counters_after:
        result["collector"] = {key: counters_after[key] - counters_before[key] for key in counters_after}
    proto_label = f"tcp x{connections}" if proto == "tcp" else proto
    log(
        f"{receiver.name:8} {proto_label} {rate:>9,}/s x {count:>9,}: stored {stored:,} lost {lost:,} "
        f"({result['loss_pct']:.3f} %), generator {generator['rate']:,.0f}/s, "
        f"receiver {result['receiver_cpu_us_per_msg']} us/msg"
    )
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": len(runs),
        "median_loss_pct": round(statistics.median(r["loss_pct"] for r in runs), 4),
        "median_generator_rate": round(statistics.median(r["generator_rate"] for r in runs)),
        "median_receiver_cpu_us_per_msg": round(statistics.median(r["receiver_cpu_us_per_msg"] for r in runs), 2),
    }


def keeps_up(proto: str, rate: int, summary: dict[str, Any]) -> bool:
    if summary["median_loss_pct"] >= LOSS_LIMIT_PCT:
        return False
    # TCP pushes back rather than losing: a receiver that is too slow shows as a slower sender.
    return proto == "udp" or summary["median_generator_rate"] >= 0.99 * rate


def ladder(
    receivers: list[Receiver],
    proto: str,
    rates: tuple[int, ...],
    seconds: float,
    repeat: int,
    headline: tuple[int, float] | None,
    generator_cpu: int | None,
) -> dict[str, Any]:
    """Every rate, receivers in turn (so they share the same background), until each has
    clearly failed: two UDP rates, or one TCP rate (the sender's pace is then the receiver's)."""
    results: dict[str, dict[str, Any]] = {r.name: {"by_rate": {}} for r in receivers}
    failed = {r.name: 0 for r in receivers}
    enough = 2 if proto == "udp" else 1
    for rate in rates:
        for receiver in receivers:
            if failed[receiver.name] >= enough:
                continue
            duration = headline[1] if headline and rate == headline[0] else seconds
            runs = []
            for _ in range(1 if duration > seconds else repeat):
                runs.append(run_once(receiver, proto, rate, int(rate * duration), generator_cpu))
                time.sleep(SETTLE_S)
                if runs[-1]["loss_pct"] > CLEARLY_FAILED_PCT:
                    break
            summary = summarize(runs) | {"seconds": duration, "each": runs}
            summary["kept_up"] = keeps_up(proto, rate, summary)
            results[receiver.name]["by_rate"][str(rate)] = summary
            if summary["median_loss_pct"] > CLEARLY_FAILED_PCT or (
                proto == "tcp" and summary["median_generator_rate"] < 0.9 * rate
            ):
                failed[receiver.name] += 1
    for result in results.values():
        kept = [int(rate) for rate, s in result["by_rate"].items() if s["kept_up"]]
        result["max_rate_kept"] = max(kept, default=0)
    return results


def ratio(results: dict[str, Any]) -> float | None:
    ours = results.get("nocraven", {}).get("max_rate_kept")
    theirs = results.get("rsyslog", {}).get("max_rate_kept")
    return round(ours / theirs, 3) if ours is not None and theirs else None


# ---- main ------------------------------------------------------------------------------------------


def stages() -> dict[str, Any] | None:
    """CPU microseconds per message of each stage of the path, measured in one process
    (`bench/syslog_stages.py`): where the receiver's CPU goes."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "syslog_stages.py"), "--messages", "20000", "--repeat", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        log(f"stage benchmark failed: {result.stderr.strip()[-300:]}")
        return None
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def tcp_unthrottled(
    receivers: list[Receiver], count: int, connections: tuple[int, ...], generator_cpu: int | None
) -> dict[str, Any]:
    """As fast as the receiver takes it (TCP pushes back), over 1 and over several connections."""
    results: dict[str, Any] = {r.name: {} for r in receivers}
    for n in connections:
        for receiver in receivers:
            rate, _ = TCP_UNTHROTTLED
            results[receiver.name][f"connections_{n}"] = run_once(receiver, "tcp", rate, count, generator_cpu, n)
            time.sleep(SETTLE_S)
    for n in connections:
        key = f"connections_{n}"
        if {"nocraven", "rsyslog"} <= results.keys():
            ours = results["nocraven"][key]["generator_rate"]
            theirs = results["rsyslog"][key]["generator_rate"]
            results[f"ratio_{key}_ours_over_rsyslog"] = round(ours / theirs, 3) if theirs else None
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s runs, one repeat: a smoke test, not a result")
    parser.add_argument(
        "--short",
        action="store_true",
        help="about a minute in all: 1 s UDP rates, bounded TCP runs over 1 and 4 connections, the stage costs",
    )
    parser.add_argument("--only", choices=["nocraven", "rsyslog"], help="bench one receiver")
    parser.add_argument("--repeat", type=int, default=3, help="runs per 10 s rate (median reported); default 3")
    parser.add_argument("--skip-tcp", action="store_true")
    parser.add_argument("--skip-udp", action="store_true", help="TCP only (and the stage costs)")
    args = parser.parse_args()
    seconds, headline_s, repeat = (3.0, 5.0, 1) if args.quick else (RUN_S, HEADLINE_S, max(1, args.repeat))
    udp_rates: tuple[int, ...] = UDP_RATES
    if args.short:
        seconds, headline_s, repeat, udp_rates = 1.0, 1.0, 1, SHORT_UDP_RATES

    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # still stop the receivers
    facts = machine_facts()
    build_loadgen()
    cpus = sorted(os.sched_getaffinity(0))
    generator_cpu = cpus[-1] if len(cpus) > 1 else None
    receivers_cpus = cpus[:-1] if len(cpus) > 2 else None
    if not facts["root"] and facts["net_core_rmem_max"] < RECEIVE_BUFFER_BYTES:
        log(f"not root: receive buffers are capped at net.core.rmem_max = {facts['net_core_rmem_max']:,} bytes")

    work = Path(tempfile.mkdtemp(prefix="nocraven-bench-syslog-"))
    receivers: list[Receiver] = []
    try:
        if args.only in (None, "nocraven"):
            receivers.append(start_nocraven(work / "nocraven", receivers_cpus))
        if args.only in (None, "rsyslog") and shutil.which("rsyslogd"):
            receivers.append(start_rsyslog(work / "rsyslog", receivers_cpus))
        log("receivers up: " + ", ".join(f"{r.name} udp {r.udp_port} tcp {r.tcp_port}" for r in receivers))
        for receiver in receivers:  # warm up: imports, caches, first segments
            run_once(receiver, "udp", 20_000, 20_000 if args.short else 40_000, generator_cpu)
            time.sleep(SETTLE_S)

        report: dict[str, Any] = {
            "bench": "syslog",
            "machine": facts,
            "setup": {
                "generator": "bench/loadgen.c (sendmmsg for UDP, octet-counted TCP); RFC 3164 and RFC 5424 alternate",
                "generator_cpu": generator_cpu,
                "receivers_cpus": receivers_cpus or "any",
                "udp_source_ports": SOURCE_PORTS,
                "receive_buffer_bytes": RECEIVE_BUFFER_BYTES,
                "loss_limit_pct": LOSS_LIMIT_PCT,
                "seconds_per_rate": seconds,
                "headline": {"rate": HEADLINE_RATE, "seconds": headline_s},
                "repeat": repeat,
                "sysctl_changed": None,
                "loss": "sent by the generator minus stored (buffer records; rsyslog: file lines)",
                "short": args.short,
            },
        }
        if args.only in (None, "nocraven"):
            report["cpu_us_per_message_by_stage"] = stages()
        udp: dict[str, Any] = {}
        if not args.skip_udp:
            udp = ladder(receivers, "udp", udp_rates, seconds, repeat, (HEADLINE_RATE, headline_s), generator_cpu)
            report["udp"] = udp | {"ratio_max_rate_ours_over_rsyslog": ratio(udp)}
        if not args.skip_tcp:
            if args.short:
                report["tcp"] = tcp_unthrottled(receivers, SHORT_TCP_COUNT, TCP_CONNECTIONS, generator_cpu)
            else:
                tcp = ladder(receivers, "tcp", TCP_RATES, seconds, 1, None, generator_cpu)
                unthrottled = tcp_unthrottled(receivers, TCP_UNTHROTTLED[1], TCP_CONNECTIONS, generator_cpu)
                for receiver in receivers:
                    tcp[receiver.name]["unthrottled"] = unthrottled[receiver.name]
                report["tcp"] = (
                    tcp
                    | {"ratio_max_rate_ours_over_rsyslog": ratio(tcp)}
                    | {k: v for k, v in unthrottled.items() if k.startswith("ratio_")}
                )
        for receiver in receivers:
            if receiver.name == "nocraven":
                tree = process_tree(receiver.proc.pid)
                report["nocraven_memory"] = {
                    "engine_peak_rss_mib": round(memory_kib(receiver.proc.pid, "VmHWM") / 1024, 1),
                    "engine_rss_mib": round(memory_kib(receiver.proc.pid, "VmRSS") / 1024, 1),
                    "all_processes_rss_mib": round(sum(memory_kib(pid, "VmRSS") for pid in tree) / 1024, 1),
                    "all_processes_peak_rss_mib": round(sum(memory_kib(pid, "VmHWM") for pid in tree) / 1024, 1),
                }
        if "nocraven" in udp:
            headline = udp["nocraven"]["by_rate"].get(str(HEADLINE_RATE))
            report["acceptance"] = {
                "udp_rate": HEADLINE_RATE,
                "seconds": headline_s,
                "loss_pct": headline["median_loss_pct"] if headline else None,
                "passed": bool(headline and headline["kept_up"]),
            }
        report["machine"]["load_average_end"] = list(os.getloadavg())
        report["elapsed_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(report, indent=2))
        return 0
    finally:
        for receiver in receivers:
            receiver.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
