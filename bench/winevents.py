"""Windows event endpoint benchmark, end to end: events/s accepted and durably stored over TLS.

A real engine (`nocraven engine`: the winevents collector process and the buffer) listens on
127.0.0.1 with a trustme certificate. Every 200 it sends means the batch is committed in the
buffer (the collector waits for the engine's DURABLE answer), so the figure is events
acknowledged *and* on disk. `--store file` runs the endpoint alone instead, its store an NDJSON
file fsync'd per request: the endpoint's own cost, without the engine and the buffer.

The load process runs `--clients` concurrent HTTPS clients (one keep-alive connection each),
each posting batches of `--batch` events (NDJSON, the four dialects in turn, built from the
canonical events of the tests) as fast as the replies come. Every batch names its own
computer, so no event is a duplicate of another. At the end the buffer is counted: it must hold
at least every event the replies acknowledged.

CPU is reported per event for the collector's own process, its parse workers (children that
decode and normalise the large bodies) and the engine, after one warm-up batch per client (so
the workers are running before the clock starts). `stages_us_per_event_in_process` times the
steps after TLS and HTTP on the same bodies in this process (`--no-stages` skips it, e.g. to
run the bench against an older tree).

Only 127.0.0.1; bounded in time (`--seconds`, 20 by default, plus setup). One JSON document on
stdout; progress on stderr.
Usage: python bench/winevents.py [--seconds S] [--clients N] [--batch N] [--store engine|file] [--no-stages]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procstat import process_tree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOCRAVEN = Path(sys.executable).parent / "nocraven"

TOKEN = "bench:bench-secret-0123456789abcdef"
SECRET = TOKEN.split(":", 1)[1]
TARGET_EVENTS_S = 20_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of `root` and of every process under it (the collector's parse workers)."""
    times = {}
    for pid in process_tree(root):
        try:
            times[pid] = cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            continue
    return times


def runqueue_wait_seconds(pid: int) -> float:
    """Time this process's threads spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat):
    how much of the machine other processes took from it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


# ---- the endpoint process ----------------------------------------------------------------------


def serve(cert: str, key: str, out_path: str, ready: Any, stop: Any) -> None:
    from collectors.winevents.server import WineventsServer
    from collectors.winevents.settings import WineventsSettings

    out = open(out_path, "ab")  # noqa: SIM115 - held for the life of the process

    def append_durably(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()
        os.fsync(out.fileno())

    async def store(ndjson: bytes, count: int, wire_bytes: int = 0) -> None:
        await asyncio.to_thread(append_durably, ndjson + b"\n")

    async def main() -> None:
        settings = WineventsSettings(listen="127.0.0.1:0", tokens=[TOKEN], tls_cert=cert, tls_key=key)
        server = WineventsServer(settings, store)
        _host, port = await server.start()
        ready.send(port)
        while not stop.poll():
            await asyncio.sleep(0.1)
        await server.close()
        ready.send(server.agents.snapshot())

    asyncio.run(main())
    out.close()


# ---- CPU per stage, in this process ------------------------------------------------------------


def stage_costs(batch: int, repeats: int = 3) -> dict[str, float]:
    """µs of CPU per event for each step a body goes through after TLS and HTTP, measured here
    on the bench's own bodies (the best of `repeats`, so other processes' noise is left out):
    JSON decode, normalise + NDJSON encode (what a parse worker does after the decode), the
    duplicate check in the endpoint's process, and the hand-over's pickling both ways."""
    import pickle

    from collectors.common.harness import tune_gc
    from collectors.winevents.body import parse_documents
    from collectors.winevents.dedup import RecentEvents
    from collectors.winevents.intake import normalise_batch, settle

    tune_gc()
    bodies = [template.replace(b"__BATCH__", b"stage") for template in batch_templates(batch)]
    best: dict[str, float] = {}
    for _ in range(repeats):
        spent = dict.fromkeys(("json_decode", "normalise_encode", "dedup_settle", "worker_handover"), 0.0)
        recent = RecentEvents()
        for body in bodies:
            started = time.process_time()
            documents = parse_documents(body)
            decoded = time.process_time()
            prepared = normalise_batch(documents.items, documents.errors, received_at="r", source="s", agent="a")
            normalised = time.process_time()
            settle(prepared, recent)
            settled = time.process_time()
            pickle.loads(pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL))
            pickle.loads(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))
            handed = time.process_time()
            spent["json_decode"] += decoded - started
            spent["normalise_encode"] += normalised - decoded
            spent["dedup_settle"] += settled - normalised
            spent["worker_handover"] += handed - settled
        for stage, seconds in spent.items():
            best[stage] = min(best.get(stage, seconds), seconds)
    events = batch * len(bodies)
    return {stage: round(seconds / events * 1e6, 2) for stage, seconds in best.items()}


def warm_up(port: int, ca_file: str, batch: int, clients: int) -> None:
    """A batch per client before the clock starts, so the endpoint's parse workers (started on
    the first large body) are running and their start-up is not counted."""
    import http.client
    import ssl
    import threading

    body = batch_templates(batch)[0].replace(b"__BATCH__", b"warm-up")

    def post(number: int) -> None:
        context = ssl.create_default_context(cafile=ca_file)
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/x-ndjson"}
        connection.request("POST", "/v1/events", body.replace(b"warm-up", f"warm-up-{number}".encode()), headers)
        connection.getresponse().read()
        connection.close()

    threads = [threading.Thread(target=post, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)


# ---- the load process --------------------------------------------------------------------------


def batch_templates(batch: int) -> list[bytes]:
    """One NDJSON body per dialect; `__BATCH__` in the computer name is replaced per batch and
    record ids run 1..batch, so every event of the run is distinct."""
    from dataclasses import replace

    from tests.support.winevents import CANONICAL, RENDERERS

    templates = []
    for render in RENDERERS.values():
        lines = []
        for number in range(batch):
            event = replace(CANONICAL[number % len(CANONICAL)], record_id=number + 1, computer="HOST-__BATCH__")
            lines.append(json.dumps(render(event)))
        templates.append(("\n".join(lines) + "\n").encode())
    return templates


def load(port: int, ca_file: str, seconds: float, clients: int, batch: int, result: Any) -> None:
    import ssl

    import aiohttp

    templates = batch_templates(batch)

    async def main() -> dict[str, Any]:
        context = ssl.create_default_context(cafile=ca_file)
        latencies: list[float] = []
        totals = {"accepted": 0, "duplicates": 0, "refused": 0, "batches": 0, "errors": 0, "bytes": 0}
        counter = iter(range(10**9))
        deadline = time.monotonic() + seconds

        async def one_client(session: aiohttp.ClientSession) -> None:
            headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/x-ndjson"}
            while time.monotonic() < deadline:
                number = next(counter)
                body = templates[number % len(templates)].replace(b"__BATCH__", str(number).encode())
                started = time.monotonic()
                async with session.post(f"https://127.0.0.1:{port}/v1/events", data=body, headers=headers) as reply:
                    answer = await reply.json()
                latencies.append(time.monotonic() - started)
                totals["batches"] += 1
                totals["bytes"] += len(body)
                if reply.status != 200:
                    totals["errors"] += 1
                    continue
                for key in ("accepted", "duplicates", "refused"):
                    totals[key] += answer[key]

        connector = aiohttp.TCPConnector(ssl=context, limit=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.monotonic()
            await asyncio.gather(*(one_client(session) for _ in range(clients)))
            elapsed = time.monotonic() - started
        latencies.sort()
        return {
            **totals,
            "elapsed_s": round(elapsed, 2),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        }

    outcome = asyncio.run(main())
    outcome["load_cpu_s"] = cpu_seconds(os.getpid())
    result.send(outcome)


# ---- the engine ---------------------------------------------------------------------------------


def cli_json(socket_path: Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, NOCRAVEN_SOCKET=str(socket_path))
    env.pop("NOCRAVEN_CONFIG", None)
    done = subprocess.run(
        [str(NOCRAVEN), *args, "--json"], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


class Engine:
    """A real engine with the endpoint over TLS on 127.0.0.1:0, in its own session (as a daemon)."""

    def __init__(self, directory: Path, cert: str, key: str) -> None:
        from tests.support.engine import write_config  # the same test config as the suite

        self.socket = directory / "ctl.sock"
        self.log_path = directory / "engine.log"
        config = write_config(
            directory,
            f"""[engine]
log_level = "info"

[winevents]
listen = "127.0.0.1:0"
tokens = ["{TOKEN}"]
tls_cert = "{cert}"
tls_key = "{key}"

[buffer]
total_bytes = {8 * 1024**3}

[buffer.services.winevent]
quota_bytes = {8 * 1024**3}
""",
        )
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - the engine's for its whole life
        self.proc = subprocess.Popen(
            [str(NOCRAVEN), "engine", "--config", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.port = self._wait_for_endpoint()
        self.collector = next(pid for pid in process_tree(self.proc.pid) if self._is_collector(pid))

    @staticmethod
    def _is_collector(pid: int) -> bool:
        try:
            return b"collectors.winevents.service" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def _wait_for_endpoint(self) -> int:
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the engine did not start: {self.log_path.read_text(errors='replace')[-2000:]}")
            if self.socket.exists():
                try:
                    status = cli_json(self.socket, "status")
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    status = {}
                listeners = status.get("components", {}).get("winevents", {}).get("detail", {}).get("listeners", [])
                if listeners:
                    return int(listeners[0]["address"].rpartition(":")[2])
            time.sleep(0.3)

    def stored(self) -> int:
        """Every winevent record in the buffer, sealed or not."""
        service = cli_json(self.socket, "buffer", "stats")["services"].get("winevent", {})
        return int(service.get("records", 0)) + int(service.get("unsealed_records", 0))

    def agents(self) -> dict[str, Any]:
        return cli_json(self.socket, "winevents", "agents")["agents"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FileEndpoint:
    """The endpoint alone in a process of its own, its store an fsync'd NDJSON file."""

    def __init__(self, directory: Path, cert: str, key: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.out_path = str(directory / "stored.ndjson")
        self._ready, ready_child = context.Pipe()
        self._stop, stop_child = context.Pipe()
        self.proc = context.Process(target=serve, args=(cert, key, self.out_path, ready_child, stop_child))
        self.proc.start()
        if not self._ready.poll(60):
            raise SystemExit("the endpoint did not start within 60 s")
        self.port = int(self._ready.recv())
        self.collector = self.proc.pid or 0
        self._agents: list[dict[str, Any]] = []

    def stored(self) -> int:
        with open(self.out_path, "rb") as stored_file:
            return sum(1 for _ in stored_file)

    def agents(self) -> dict[str, Any]:
        return {row["name"]: row for row in self._agents}

    def stop(self) -> None:
        self._stop.send(True)
        self._agents = self._ready.recv() if self._ready.poll(15) else []
        self.proc.join(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--store", choices=("engine", "file"), default="engine")
    parser.add_argument("--no-stages", action="store_true", help="skip the in-process cost per stage")
    args = parser.parse_args()
    stages = {} if args.no_stages else stage_costs(args.batch)

    import trustme

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="nocraven-bench-winevents-") as tmp:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert_file, key_file, ca_file = f"{tmp}/cert.pem", f"{tmp}/key.pem", f"{tmp}/ca.pem"
        cert.cert_chain_pems[0].write_to_path(cert_file)
        cert.private_key_pem.write_to_path(key_file)
        ca.cert_pem.write_to_path(ca_file)

        receiver: Engine | FileEndpoint = (
            Engine(Path(tmp) / "engine", cert_file, key_file)
            if args.store == "engine"
            else FileEndpoint(Path(tmp), cert_file, key_file)
        )
        engine_pid = receiver.proc.pid if isinstance(receiver, Engine) else None
        try:
            log(
                f"endpoint on 127.0.0.1:{receiver.port} (TLS, store: {args.store}); "
                f"{args.clients} clients x {args.batch} events for {args.seconds:g} s"
            )
            result_parent, result_child = context.Pipe()
            loader = context.Process(
                target=load, args=(receiver.port, ca_file, args.seconds, args.clients, args.batch, result_child)
            )
            warm_up(receiver.port, ca_file, args.batch, args.clients)
            warmed = receiver.stored()
            collector_before = tree_cpu(receiver.collector)
            collector_wait_before = runqueue_wait_seconds(receiver.collector)
            engine_cpu_before = cpu_seconds(engine_pid) if engine_pid else 0.0
            load_before = os.getloadavg()[0]
            loader.start()
            if not result_parent.poll(args.seconds + 90):
                loader.kill()
                raise SystemExit("the load did not finish in time")
            totals = result_parent.recv()
            collector_after = tree_cpu(receiver.collector)
            collector_cpu = collector_after.get(receiver.collector, 0.0) - collector_before.get(receiver.collector, 0.0)
            workers_cpu = sum(
                seconds - collector_before.get(pid, 0.0)
                for pid, seconds in collector_after.items()
                if pid != receiver.collector
            )
            collector_wait = runqueue_wait_seconds(receiver.collector) - collector_wait_before
            engine_cpu = (cpu_seconds(engine_pid) - engine_cpu_before) if engine_pid else 0.0
            load_after = os.getloadavg()[0]
            loader.join(10)
            stored = receiver.stored() - warmed
            agents = receiver.agents() if isinstance(receiver, Engine) else {}
        finally:
            receiver.stop()
        if isinstance(receiver, FileEndpoint):
            agents = receiver.agents()

    elapsed = totals["elapsed_s"]
    accepted = max(totals["accepted"], 1)
    events_s = totals["accepted"] / elapsed
    result = {
        "benchmark": "winevents",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "setup": {
            "transport": "HTTPS (TLS, keep-alive), POST /v1/events, NDJSON, dialects in turn",
            "clients": args.clients,
            "batch_events": args.batch,
            "store": (
                "the engine's buffer: each reply waits for the batch's commit (group commit, SQLite FULL sync)"
                if args.store == "engine"
                else "NDJSON append + fsync per request, before the reply (endpoint alone)"
            ),
        },
        "events_per_s": round(events_s),
        "target_events_per_s": TARGET_EVENTS_S,
        "meets_target": events_s >= TARGET_EVENTS_S,
        "batches_per_s": round(totals["batches"] / elapsed, 1),
        "mbytes_per_s": round(totals["bytes"] / elapsed / 1e6, 2),
        # The collector's own process (TLS, HTTP, tokens, duplicates, counters, durability) and
        # its parse workers (JSON decode, normalise, encode of the large bodies).
        "collector_cpu_s_per_s": round((collector_cpu + workers_cpu) / elapsed, 2),
        "collector_us_per_event": round((collector_cpu + workers_cpu) / accepted * 1e6, 1),
        "collector_main_us_per_event": round(collector_cpu / accepted * 1e6, 1),
        "collector_workers_us_per_event": round(workers_cpu / accepted * 1e6, 1),
        "total_us_per_event": round((collector_cpu + workers_cpu + engine_cpu) / accepted * 1e6, 1),
        "engine_cpu_s_per_s": round(engine_cpu / elapsed, 2),
        "engine_us_per_event": round(engine_cpu / accepted * 1e6, 1),
        # What the two processes would carry at that cost, each on a core of its own: the figure
        # to compare with the target when the machine is shared (see the waits below).
        "events_per_cpu_second_of_the_busier_process": round(
            accepted / max(collector_cpu, engine_cpu, workers_cpu / max(len(collector_after) - 1, 1), 1e-9)
        ),
        # At this CPU per event, what the receiving processes would carry with 2 cores to
        # themselves: bounded by both cores' time, and by each single-threaded process's core
        # (the endpoint's own process and the engine; the parse workers share the work out).
        "events_per_s_ceiling_on_2_free_cores": round(
            min(
                2 * accepted / max(collector_cpu + workers_cpu + engine_cpu, 1e-9),
                accepted / max(collector_cpu, 1e-9),
                accepted / max(engine_cpu, 1e-9),
            )
        ),
        "stages_us_per_event_in_process": stages,
        "collector_runqueue_wait_s_per_s": round(collector_wait / elapsed, 2),
        "machine_load_avg_1m": [round(load_before, 2), round(load_after, 2)],
        "load_generator_cpu_s_per_s": round(totals["load_cpu_s"] / elapsed, 2),
        "acknowledged": totals["accepted"],
        "stored": stored,
        "lost": max(0, totals["accepted"] - stored),
        "duplicates": totals["duplicates"],
        "refused": totals["refused"],
        "failed_batches": totals["errors"],
        "latency_ms_p50": totals["latency_ms_p50"],
        "latency_ms_p99": totals["latency_ms_p99"],
        "elapsed_s": elapsed,
        "agents": agents,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
