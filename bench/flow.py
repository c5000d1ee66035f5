"""Flow ingest benchmark: the highest loss-free records/s for NetFlow v5, v9, IPFIX and sFlow v5,
end to end, NoC Raven beside nfdump's `nfcapd` and pmacct's `nfacctd` / `sfacctd`.

A real engine (`nocraven engine`: the flow collector's processes and the buffer included)
receives the load of the compiled generator (`bench/flowgen.c`, built here when missing), one
version at a time. The search is stepped: rising rates (`--rates`), each step `--seconds` long
and so bounded in count (rate x seconds records), until one is not kept; then `--refine`
halvings of the interval between the last rate kept and the first lost. A step is kept when
nothing was lost and the receiver stored it at >= 90 % of the rate, counting the time it took
to store what was still queued when the generator stopped (a 64 MiB receive buffer would
otherwise hide a receiver slower than the load). NoC Raven's loss is what the generator sent
minus what the buffer stored (records, or sFlow samples), read from the engine's API on its
control socket. The peers, when installed (Debian packages nfdump and pmacct; a missing one is
noted in the JSON and skipped), get the same load in the same run, in turn with NoC Raven so
they share the same background; their loss is what the kernel dropped on their socket
(datagrams times records per datagram), as they keep no count of records a script can read
the same way. nfcapd and nfacctd take v5, v9 and IPFIX; sfacctd sFlow.

Beside the rates, where the CPU goes: per step, the receiver's CPU microseconds per record
(all its processes, over the send and the drain), split by process (engine, collector, UDP
workers); and once, the CPU per record of each stage of NoC Raven's path measured alone
(`bench/flow_stages.py`: decode, channel, append, seal). On a shared machine the CPU per record
is far steadier than a rate.

Only 127.0.0.1; bounded in time (each step `--seconds` plus a drain of at most 15 s). No
sysctl is changed: as root, every receiver gets its receive buffer with SO_RCVBUFFORCE (the
peers with their own options). The generator is pinned to the last core; on machines with more
than two cores the receivers are pinned to the others, on two they may use both.

Prints one JSON document on stdout (`max_loss_free_rate` per version and receiver, `ratios`,
`stages_cpu_us_per_record`, every step under `results`); progress goes to stderr.
Usage: python bench/flow.py [--seconds S] [--rates 50000,100000,...] [--refine N]
                            [--kinds v5,v9,ipfix,sflow] [--only nocraven|nfcapd|pmacct] [--no-stages]
"""

from __future__ import annotations

import argparse
import contextlib
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
FLOWGEN_SRC = ROOT / "bench" / "flowgen.c"
FLOWGEN = ROOT / "bench" / "bin" / "flowgen"
NOCRAVEN = Path(sys.executable).parent / "nocraven"

KINDS = ("v5", "v9", "ipfix", "sflow")
RATES = (50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000)
TARGET_RATE = 100_000
RUN_S = 3.0
REFINE = 2  # halvings of the interval between the last rate kept and the first lost
RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024
SOURCE_PORTS = 4  # the generator sends from this many sockets: four exporters
SETTLE_S = 1.0
DRAIN_TIMEOUT_S = 15.0
POLL_S = 0.1  # a tenth of a second: the drain time counts in the stored rate of runs of a few seconds
STILL_POLLS = 15  # polls without a new record before a run counts as drained
# A rate is kept when nothing is lost and the receiver stored it at >= 90 % of the rate,
# counting the time it took to store what was still queued when the generator stopped: a
# 64 MiB receive buffer would otherwise hide a receiver that is slower than the load.
KEPT_FRACTION = 0.9
# Records (sFlow: samples) per datagram, as flowgen.c packs them: to turn dropped datagrams
# into records for the peers.
PER_DATAGRAM = {"v5": 30, "v9": (1400 - 20 - 4) // 34, "ipfix": (1400 - 16 - 4) // 54, "sflow": (1400 - 28) // 152}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# Which part of NoC Raven a process is, by its command line (the engine is the tree's root).
ROLES = (("collectors.flow.udp_worker", "udp_workers"), ("collectors.flow.service", "collector"))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_flowgen() -> None:
    if FLOWGEN.exists() and FLOWGEN.stat().st_mtime >= FLOWGEN_SRC.stat().st_mtime:
        return
    FLOWGEN.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {FLOWGEN}")
    subprocess.run(["cc", "-O2", "-o", str(FLOWGEN), str(FLOWGEN_SRC)], check=True)


def machine_facts() -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    return {
        "nproc": len(cpus),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
        "root": os.geteuid() == 0,
    }


# ---- receivers ------------------------------------------------------------------------------------


@dataclass
class Receiver:
    name: str
    kinds: tuple[str, ...]
    ports: dict[str, int]  # kind -> UDP port
    proc: subprocess.Popen[bytes]
    stored: Callable[[str], int] | None = None  # records stored so far (None: count kernel drops)
    extra: Callable[[], dict[str, Any]] = field(default=lambda: {})

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
        # Its own session (start_new_session): helpers it forked (pmacct's plugins) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=30)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


def api_json(socket_path: Path, path: str) -> Any:
    """GET an engine API path on its control socket. Not the CLI: starting a Python process per
    poll takes up to a second on a busy machine, which the drain time would count."""
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        connection.close()


def pinned(command: list[str], cpus: list[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cpus)), *command] if cpus else command


def start_nocraven(directory: Path, cpus: list[int] | None) -> Receiver:
    directory.mkdir(parents=True)
    socket_path = directory / "ctl.sock"
    config = directory / "nocraven.toml"
    config.write_text(
        f"""[engine]
data_dir = "{directory / "data"}"
socket = "{socket_path}"

[syslog]
udp = ""
tcp = ""

[flow]
netflow = "127.0.0.1:0"
ipfix = ""
sflow = "127.0.0.1:0"
receive_buffer_bytes = {RECEIVE_BUFFER_BYTES}

[snmptrap]
udp = ""

[winevents]
listen = ""

[buffer]
total_bytes = {32 * 1024**3}

[buffer.services.flow]
quota_bytes = {32 * 1024**3}
"""
    )
    log_file = open(directory / "engine.log", "wb")  # noqa: SIM115 - the engine's for its whole life
    proc = subprocess.Popen(
        pinned([str(NOCRAVEN), "engine", "--config", str(config)], cpus),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    ports: dict[str, int] = {}
    while not ports:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"engine did not start: {(directory / 'engine.log').read_text(errors='replace')}")
        time.sleep(0.3)
        if socket_path.exists():
            try:
                listeners = api_json(socket_path, "/v1/status")["components"]["flow"]["detail"]["listeners"]
            except (OSError, RuntimeError, KeyError):
                continue
            bound = {lst["listener"]: int(lst["address"].rpartition(":")[2]) for lst in listeners}
            if {"netflow", "sflow"} <= bound.keys():
                ports = {kind: bound["sflow" if kind == "sflow" else "netflow"] for kind in KINDS}

    def stored(kind: str) -> int:
        flow = api_json(socket_path, "/v1/buffer/stats")["services"].get("flow", {})
        return int(flow.get("records", 0)) + int(flow.get("unsealed_records", 0))

    def extra() -> dict[str, Any]:
        exporters = api_json(socket_path, "/v1/flow/exporters")
        return {
            "sequence_gaps": sum(e["counters"]["sequence_gaps"] for e in exporters["exporters"]),
            "kernel_drops": sum(lst["counters"]["kernel_drops"] for lst in exporters["listeners"]),
        }

    return Receiver("nocraven", KINDS, ports, proc, stored, extra)


def start_nfcapd(directory: Path, cpus: list[int] | None) -> Receiver | None:
    binary = shutil.which("nfcapd")
    if binary is None:
        return None
    directory.mkdir(parents=True)
    port = free_udp_port()
    command = [binary, "-b", "127.0.0.1", "-p", str(port), "-w", str(directory), "-B", str(RECEIVE_BUFFER_BYTES)]
    proc = subprocess.Popen(
        pinned(command, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    time.sleep(1.0)
    return Receiver("nfcapd", ("v5", "v9", "ipfix"), dict.fromkeys(("v5", "v9", "ipfix"), port), proc)


def start_pmacct(directory: Path, cpus: list[int] | None, daemon: str) -> Receiver | None:
    binary = shutil.which(daemon)
    if binary is None:
        return None
    directory.mkdir(parents=True)
    port = free_udp_port()
    prefix = "nfacctd" if daemon == "nfacctd" else "sfacctd"
    conf = directory / f"{daemon}.conf"
    conf.write_text(
        f"""daemonize: false
{prefix}_ip: 127.0.0.1
{prefix}_port: {port}
{prefix}_pipe_size: {RECEIVE_BUFFER_BYTES}
plugins: print
print_output_file: {directory}/out.json
print_output: json
print_refresh_time: 60
aggregate: src_host, dst_host, src_port, dst_port, proto
"""
    )
    proc = subprocess.Popen(
        pinned([binary, "-f", str(conf)], cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    time.sleep(1.0)
    kinds = ("sflow",) if daemon == "sfacctd" else ("v5", "v9", "ipfix")
    return Receiver(daemon, kinds, dict.fromkeys(kinds, port), proc)


# ---- runs ---------------------------------------------------------------------------------------------


def wait_until_stored(receiver: Receiver, kind: str, before: int, sent: int) -> tuple[int, float]:
    """Poll the stored count until it has everything or stops growing; (count, seconds waited)."""
    assert receiver.stored is not None
    start, last, still = time.monotonic(), -1, 0
    while True:
        count = receiver.stored(kind) - before
        if count >= sent or time.monotonic() - start > DRAIN_TIMEOUT_S:
            return count, time.monotonic() - start
        still = still + 1 if count == last else 0
        if still >= STILL_POLLS:
            return count, time.monotonic() - start
        last = count
        time.sleep(POLL_S)


def run_once(receiver: Receiver, kind: str, rate: int, seconds: float, generator_cpu: int | None) -> dict[str, Any]:
    """One step: `rate` records/s for `seconds` (so rate x seconds records), then the drain."""
    port = receiver.ports[kind]
    before = receiver.stored(kind) if receiver.stored else 0
    drops_before = udp_drops(port)
    extra_before = receiver.extra()
    root_role = "engine" if receiver.name == "nocraven" else receiver.name
    roles_before = ticks_by_role(receiver.proc.pid, root_role, ROLES)
    command = pinned(
        [str(FLOWGEN), kind, "127.0.0.1", str(port), str(rate), str(int(rate * seconds)), str(SOURCE_PORTS)],
        [generator_cpu] if generator_cpu is not None else None,
    )
    generator = json.loads(
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds * 4 + 30).stdout
    )
    sent = int(generator["records"])
    drain_s = None
    if receiver.stored is not None:
        stored, drain_s = wait_until_stored(receiver, kind, before, sent)
    else:
        time.sleep(SETTLE_S)
        stored = sent - (udp_drops(port) - drops_before) * PER_DATAGRAM[kind]
    roles_after = ticks_by_role(receiver.proc.pid, root_role, ROLES)
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    ticks = sum(roles_after.values()) - sum(roles_before.values())
    alive = receiver.proc.poll() is None
    lost = sent - stored if alive else sent
    result: dict[str, Any] = {
        "rate": rate,
        "sent": sent,
        "generator_rate": round(generator["rate"]),
        "stored": stored,
        "lost": lost,
        "loss_pct": round(100.0 * lost / sent, 4) if sent else 0.0,
        "kernel_drops_datagrams": udp_drops(port) - drops_before,
        # until the last record was stored (the peers: not measured, taken as at once)
        "drain_s": round(drain_s, 2) if drain_s is not None else None,
        "stored_rate": round(stored / (float(generator["seconds"]) + (drain_s or 0.0))),
        # CPU of all the receiver's processes over the send and the drain, per record sent:
        # less noisy than a rate on a shared machine (clock ticks of 10 ms: runs of a second+)
        "receiver_cpu_us_per_record": round(ticks * tick_us / max(sent, 1), 2),
        "receiver_cpu_us_per_record_by_process": {
            role: round((roles_after.get(role, 0) - roles_before.get(role, 0)) * tick_us / max(sent, 1), 2)
            for role in sorted(roles_after)
        },
        "receiver_alive": alive,
    }
    extra_after = receiver.extra()
    if extra_after:
        result["collector"] = {key: extra_after[key] - extra_before.get(key, 0) for key in extra_after}
    log(
        f"{receiver.name:9} {kind:5} {rate:>9,}/s: sent {sent:,} lost {lost:,} ({result['loss_pct']:.3f} %), "
        f"generator {generator['rate']:,.0f}/s, {result['receiver_cpu_us_per_record']} us/record "
        f"{result['receiver_cpu_us_per_record_by_process']}"
    )
    return result


def kept_up(run: dict[str, Any]) -> bool:
    rate = run["rate"]
    return bool(
        run["lost"] == 0 and run["generator_rate"] >= 0.95 * rate and run["stored_rate"] >= KEPT_FRACTION * rate
    )


def ladder(
    receiver: Receiver, kind: str, rates: tuple[int, ...], seconds: float, cpu: int | None, refine: int
) -> dict[str, Any]:
    """The stepped search: rising rates until one is not kept up with, then `refine` halvings
    of the interval between the last rate kept and the first one lost."""
    runs: list[dict[str, Any]] = []
    kept, lost_at = 0, 0  # lost_at 0: every rate of the ladder was kept
    for rate in rates:
        runs.append(run_once(receiver, kind, rate, seconds, cpu))
        time.sleep(SETTLE_S)
        if not kept_up(runs[-1]):
            lost_at = rate
            break
        kept = rate
    for _ in range(refine if lost_at else 0):
        rate = int(round((kept + lost_at) / 2, -3))
        if rate <= kept or rate >= lost_at:
            break
        runs.append(run_once(receiver, kind, rate, seconds, cpu))
        time.sleep(SETTLE_S)
        if kept_up(runs[-1]):
            kept = rate
        else:
            lost_at = rate
    best = next((r for r in runs if r["rate"] == kept and kept_up(r)), None)
    return {
        "max_loss_free_rate": kept,
        "first_lossy_rate": lost_at or None,
        # the CPU per record of the receiver at its best rate (the peers: only their process)
        "cpu_us_per_record_at_max": best["receiver_cpu_us_per_record"] if best else None,
        "cpu_us_per_record_median": round(statistics.median(r["receiver_cpu_us_per_record"] for r in runs), 2),
        "runs": runs,
    }


def stages(kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """CPU microseconds per record of each stage of NoC Raven's path, measured alone in one
    process (`bench/flow_stages.py`): where the receiver's CPU goes."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "flow_stages.py"), "--kinds", ",".join(kinds)],
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=RUN_S, help=f"seconds per rate (default {RUN_S})")
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="records/s to try, rising")
    parser.add_argument("--kinds", default=",".join(KINDS), help="v5, v9, ipfix, sflow")
    parser.add_argument("--only", choices=["nocraven", "nfcapd", "pmacct"], help="bench one receiver")
    parser.add_argument("--refine", type=int, default=REFINE, help=f"halvings after the ladder (default {REFINE})")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage CPU measurement")
    args = parser.parse_args()
    rates = tuple(int(r) for r in args.rates.split(","))
    kinds = tuple(k for k in args.kinds.split(",") if k in KINDS)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # still stop the receivers
    facts = machine_facts()
    build_flowgen()
    cpus = sorted(os.sched_getaffinity(0))
    generator_cpu = cpus[-1] if len(cpus) > 1 else None
    receivers_cpus = cpus[:-1] if len(cpus) > 2 else None

    work = Path(tempfile.mkdtemp(prefix="nocraven-bench-flow-"))
    receivers: list[Receiver] = []
    missing: dict[str, str] = {}
    try:
        if args.only in (None, "nocraven"):
            receivers.append(start_nocraven(work / "nocraven", receivers_cpus))
        if args.only in (None, "nfcapd"):
            peer = start_nfcapd(work / "nfcapd", receivers_cpus)
            if peer:
                receivers.append(peer)
            else:
                missing["nfcapd"] = "not installed (Debian package nfdump); skipped"
        if args.only in (None, "pmacct"):
            for daemon in ("nfacctd", "sfacctd"):
                peer = start_pmacct(work / daemon, receivers_cpus, daemon)
                if peer:
                    receivers.append(peer)
                else:
                    missing[daemon] = "not installed (Debian package pmacct); skipped"
        for receiver in receivers:  # warm up: imports, templates, first segments
            for kind in receiver.kinds:
                if kind in kinds:
                    run_once(receiver, kind, 20_000, 1.0, generator_cpu)
        results: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            for receiver in receivers:  # in turn, so they share the same background
                if kind in receiver.kinds:
                    results.setdefault(receiver.name, {})[kind] = ladder(
                        receiver, kind, rates, args.seconds, generator_cpu, args.refine
                    )
        ours = results.get("nocraven", {})
        summary = {
            kind: {name: by_kind[kind]["max_loss_free_rate"] for name, by_kind in results.items() if kind in by_kind}
            for kind in kinds
        }
        ratios = {
            kind: {
                f"nocraven/{name}": round(rates_of["nocraven"] / rate, 3)
                for name, rate in rates_of.items()
                if name != "nocraven" and "nocraven" in rates_of and rate
            }
            for kind, rates_of in summary.items()
        }
        report = {
            "bench": "flow",
            "machine": facts | {"load_average_end": list(os.getloadavg())},
            "setup": {
                "generator": "bench/flowgen.c (sendmmsg; v9/IPFIX templates every 4096 datagrams)",
                "generator_cpu": generator_cpu,
                "receivers_cpus": receivers_cpus or "any",
                "exporters": SOURCE_PORTS,
                "seconds_per_rate": args.seconds,
                "rates": rates,
                "refine": args.refine,
                "receive_buffer_bytes": RECEIVE_BUFFER_BYTES,
                "loss": {
                    "nocraven": "records (sFlow: samples) sent minus records stored in the buffer",
                    "peers": "datagrams the kernel dropped on their socket x records per datagram",
                    "kept": f"no loss, and stored at >= {KEPT_FRACTION:.0%} of the rate including the drain time",
                },
            },
            "missing_peers": missing,
            "max_loss_free_rate": summary,
            "ratios": ratios,
            "stages_cpu_us_per_record": stages(kinds) if "nocraven" in results and not args.no_stages else None,
            "results": results,
            "acceptance": {
                kind: {
                    "target": TARGET_RATE,
                    "max_loss_free_rate": ours[kind]["max_loss_free_rate"] if kind in ours else None,
                    "passed": kind in ours and ours[kind]["max_loss_free_rate"] >= TARGET_RATE,
                }
                for kind in kinds
            },
            "elapsed_s": round(time.monotonic() - started, 1),
        }
        print(json.dumps(report, indent=2))
        return 0
    finally:
        for receiver in receivers:
            receiver.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
