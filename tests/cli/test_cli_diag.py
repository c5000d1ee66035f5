"""`nocraven diag ...` through the real entry point against a real engine, on 127.0.0.1 targets:
what a person reads, what a script parses (NDJSON: progress, then one summary), the exit codes,
one-line refusals of bad input, Ctrl-C cancelling the job, and a job stopped at its time limit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dnsmasq import running_dnsmasq
from tests.support.engine import NOCRAVEN, RunningEngine, start_engine
from tests.support.speed_http import speed_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
needs_icmp = pytest.mark.skipif(os.geteuid() != 0, reason="the engine needs raw ICMP (root) for ping and trace")
JOB_LIMIT_S = 6  # diag.max_job_seconds of this engine: every other job here ends long before


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(
        tmp_path_factory.mktemp("diag-cli") / "engine", f"[diag]\nmax_job_seconds = {JOB_LIMIT_S}\n", wait=60
    )
    yield running
    running.stop()


def json_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


@needs_icmp
def test_ping_prints_a_line_per_reply_and_the_statistics(engine: RunningEngine) -> None:
    result = engine.cli("diag", "ping", "127.0.0.1", "--count", "3", "--interval", "0.05")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "PING 127.0.0.1: 3 requests of 56 bytes"
    assert [line.split(": seq=")[0] for line in lines[1:4]] == ["64 bytes from 127.0.0.1"] * 3
    assert [line.split("seq=")[1].split()[0] for line in lines[1:4]] == ["1", "2", "3"]
    assert lines[4] == "--- 127.0.0.1 ---"
    assert lines[5].startswith("3 sent, 3 received, 0 % loss; rtt min/avg/max/stddev ")
    assert result.stderr == ""


@needs_icmp
def test_ping_json_is_progress_then_one_summary(engine: RunningEngine) -> None:
    result = engine.cli("diag", "ping", "127.0.0.1", "--count", "2", "--interval", "0.05", "--size", "100", "--json")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert [line["kind"] for line in lines] == ["ping.replied", "ping.replied", "ping.summary"]
    assert lines[0]["bytes"] == 108  # the payload asked for plus the ICMP header
    assert {key: lines[-1][key] for key in ("sent", "received", "loss_pct")} == {
        "sent": 2,
        "received": 2,
        "loss_pct": 0.0,
    }


@needs_icmp
def test_trace_ends_with_the_mtr_table(engine: RunningEngine) -> None:
    result = engine.cli("diag", "trace", "127.0.0.1", "--cycles", "2", "--no-names")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "trace to 127.0.0.1 (127.0.0.1), icmp, 2 cycles"
    assert lines[1].split() == ["hop", "host", "loss%", "snt", "last", "avg", "best", "wrst", "stdev"]
    assert lines[2].split()[:4] == ["1", "127.0.0.1", "0.0", "2"]
    assert lines[3] == "reached 127.0.0.1 in 1 hop(s)"


def test_dns_shows_answers_with_ttls_and_the_status_by_name(engine: RunningEngine) -> None:
    with running_dnsmasq() as port:
        found = engine.cli("diag", "dns", "alias.diag.test", "--server", f"127.0.0.1:{port}")
        missing = engine.cli("diag", "dns", "nosuch.diag.test", "--server", f"127.0.0.1:{port}", "--json")
        nodata = engine.cli("diag", "dns", "www.diag.test", "--type", "MX", "--server", f"127.0.0.1:{port}")
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == f"asking 127.0.0.1:{port} over udp"
    assert lines[1].startswith(f"alias.diag.test A: NOERROR from 127.0.0.1:{port} in ")
    assert [line.split() for line in lines[3:]] == [
        ["alias.diag.test", "300", "CNAME", "www.diag.test."],
        ["www.diag.test", "300", "A", "192.0.2.10"],
    ]
    assert missing.returncode == 1
    assert [line["kind"] for line in json_lines(missing.stdout)] == ["dns.query_sent", "dns.summary"]
    assert json_lines(missing.stdout)[-1]["status"] == "nxdomain"
    assert nodata.returncode == 1
    assert f"www.diag.test MX: NODATA (rcode NOERROR) from 127.0.0.1:{port}" in nodata.stdout


def test_port_open_and_refused_by_exit_code(engine: RunningEngine) -> None:
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))
        open_port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        opened = engine.cli("diag", "port", "127.0.0.1", str(open_port))
        refused = engine.cli("diag", "port", "127.0.0.1", str(closed_port), "--json")
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.startswith(f"127.0.0.1 port {open_port}/tcp: open; TCP handshake in ")
    assert refused.returncode == 1
    (summary,) = json_lines(refused.stdout)
    assert (summary["kind"], summary["state"]) == ("port.summary", "refused")


def test_bandwidth_reports_bytes_time_and_rate(engine: RunningEngine) -> None:
    with speed_server() as http:
        result = engine.cli("diag", "bandwidth", f"{http.base_url}/bytes/{4 * 1024 * 1024}")
        upload = engine.cli("diag", "bandwidth", f"{http.base_url}/upload", "--upload", "--bytes", "1048576", "--json")
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith(f"download {http.base_url}/bytes/4194304: 4.0 MiB (4,194,304 bytes) in ")
    assert last.endswith("; HTTP 200, the transfer completed")
    assert upload.returncode == 0, upload.stderr
    summary = json_lines(upload.stdout)[-1]
    assert (summary["kind"], summary["bytes"], summary["stopped_by"]) == ("bandwidth.summary", 1048576, "byte_limit")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ping", "gw;reboot"], "host: 'gw;reboot' contains characters that are never valid here"),
        (["ping", "127.0.0.1", "--count", "0"], "count: 0 probes is out of range"),
        (["ping", "127.0.0.1", "--count", "many"], "Invalid value for '--count'"),
        (["dns", "example.org", "--type", "AXFR"], "type:"),
        (["dns", "example.org", "--server", "127.0.0.1:99999"], "server:"),
        (["port", "127.0.0.1", "70000"], "port:"),
        (["bandwidth", "ftp://example.org/x"], "url:"),
        (["trace", "127.0.0.1", "--max-hops", "500"], "max_hops:"),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(engine: RunningEngine, args: list[str], says: str) -> None:
    result = engine.cli("diag", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr


@needs_icmp
@pytest.mark.slow
def test_a_job_over_its_time_limit_says_so_and_exits_5(engine: RunningEngine) -> None:
    result = engine.cli("diag", "ping", "127.0.0.1", "--count", "1000", "--interval", "0.05", timeout=60)
    assert result.returncode == 5, result.stderr
    assert result.stderr == f"nocraven: ping stopped after {JOB_LIMIT_S} s, its time limit; results above are partial\n"
    assert "bytes from 127.0.0.1" in result.stdout and "--- 127.0.0.1 ---" not in result.stdout


@needs_icmp
def test_ctrl_c_cancels_the_job_in_the_engine(engine: RunningEngine) -> None:
    env = dict(os.environ, NOCRAVEN_SOCKET=str(engine.socket))
    proc = subprocess.Popen(
        [NOCRAVEN, "diag", "ping", "127.0.0.1", "--count", "1000", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("PING 127.0.0.1")
        assert "bytes from 127.0.0.1" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert stderr == "nocraven: ping cancelled\n"
    deadline = time.monotonic() + 10
    while (jobs := json.loads(engine.cli("diag", "jobs", "--json").stdout)["jobs"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jobs == []
    assert "cancelled after" in engine.log()


def test_jobs_and_cancel_of_an_unknown_job(engine: RunningEngine) -> None:
    listed = engine.cli("diag", "jobs")
    assert (listed.returncode, listed.stdout) == (0, "no diagnostics running (at most 3 at once)\n")
    missing = engine.cli("diag", "cancel", "d999")
    assert missing.returncode == 1
    assert missing.stderr == "nocraven: no diagnostic 'd999' is running; `nocraven diag jobs` lists those that are\n"


@needs_icmp
def test_noc_check_runs_the_three_steps_on_the_configured_targets(tmp_path: Path) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        noc = start_engine(tmp_path / "engine", f'[diag]\ngateway = "127.0.0.1"\nnoc_target = "127.0.0.1:{port}"\n')
        try:
            human = noc.cli("diag", "noc")
            scripted = noc.cli("diag", "noc", "--json")
        finally:
            noc.stop()
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith(f"NOC check: gateway 127.0.0.1, name -, NOC 127.0.0.1:{port} ([diag] noc_target)")
    assert "set [diag] noc_dns_name" in human.stdout  # an address has no name to check
    assert f"127.0.0.1 port {port}/tcp: open" in human.stdout and human.stdout.rstrip().endswith("NOC check passed")
    kinds = [line["kind"] for line in json_lines(scripted.stdout)[1:]]
    assert "ping.summary" in kinds and kinds[-1] == "port.summary"
    assert json_lines(scripted.stdout)[0]["port"] == port


def test_noc_check_fails_naming_the_step_when_the_noc_port_is_closed(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        noc = start_engine(tmp_path / "engine", f'[diag]\ngateway = "127.0.0.1"\nnoc_target = "127.0.0.1:{port}"\n')
        try:
            result = noc.cli("diag", "noc")
        finally:
            noc.stop()
    assert result.returncode == 1
    assert "NOC check failed at: " in result.stderr and "noc port" in result.stderr
