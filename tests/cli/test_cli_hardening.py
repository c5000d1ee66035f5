"""What broke when the appliance was used as a new technician would, and as an attacker would
from the box itself: each test here failed before its fix (issue: hardening)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from nocraven.client import Client
from tests.support.engine import NOCRAVEN, RunningEngine, run_cli, start_engine, write_config
from tests.support.syslog import listener_port, wait_for_syslog

# Every character str.splitlines() treats as a line boundary; NDJSON's only boundary is \n.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def send(engine: RunningEngine, messages: list[str]) -> None:
    port = listener_port(engine, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for text in messages:
            udp.sendto(text.encode(), ("127.0.0.1", port))


def test_line_boundary_characters_do_not_break_tail_export_or_watch(engine: RunningEngine) -> None:
    messages = [f"<13>1 - h linebreaks - - - x{char}y{i}" for i, char in enumerate(LINE_BREAKS)]
    send(engine, messages)
    records = wait_for_syslog(engine, lambda rs: sum(r["app_name"] == "linebreaks" for r in rs) == len(messages))
    mine = [r for r in records if r["app_name"] == "linebreaks"]
    assert all(f"y{i}" in r["raw"] for i, r in enumerate(mine))
    for char in LINE_BREAKS:
        assert any(char in r["raw"] for r in mine), repr(char)
    tail = engine.cli("buffer", "tail", "--service", "syslog", "--json", "--limit", "100")
    assert tail.returncode == 0, tail.stderr
    human = engine.cli("buffer", "tail", "--service", "syslog", "--limit", "100")
    assert human.returncode == 0, human.stderr
    exported = engine.cli("buffer", "export", "--service", "syslog", "--out", "-")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.split("\n") if line]
    assert sum(r["app_name"] == "linebreaks" for r in lines) == len(messages)
    assert "wrote" in exported.stderr and "standard output" in exported.stderr


def test_filters_run_in_the_engine_over_every_record(engine: RunningEngine) -> None:
    noise = [f"<13>1 - h noise - - - routine {i}" for i in range(400)]
    marked = [f"<13>1 - h probe - - - Technician Marker {i}" for i in range(6)]
    send(engine, marked[:3] + noise + marked[3:])
    wait_for_syslog(engine, lambda rs: sum(r["app_name"] == "probe" for r in rs) == 6)
    found = engine.cli("buffer", "tail", "--grep", "technician marker", "--limit", "10", "--json")
    assert found.returncode == 0, found.stderr
    assert sorted(json.loads(line)["message"] for line in found.stdout.splitlines()) == sorted(
        m.split(" - - - ")[1] for m in marked
    )
    by_source = engine.cli("buffer", "tail", "--source", "127.0.0.2", "--json")
    assert by_source.returncode == 0 and by_source.stdout == ""


def test_usage_errors_are_one_line_with_exit_2(engine: RunningEngine, tmp_path: Path) -> None:
    for args in (
        ["buffer", "tail", "--limit", "x"],
        ["buffer", "tail", "--service", "nosuch"],
        ["buffer", "export", "--service", "syslog", "--since", "yesterday", "--out", str(tmp_path / "x")],
        ["buffer", "export", "--service", "syslog", "--out", "/nonexistent/dir/x"],
        ["no-such-command"],
    ):
        result = engine.cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "x").exists() or (tmp_path / "x").stat().st_size == 0
    assert not Path("-").exists()


def test_a_broken_pipe_ends_quietly(engine: RunningEngine) -> None:
    send(engine, [f"<13>1 - h pipe - - - line {i}" for i in range(200)])
    wait_for_syslog(engine, lambda rs: sum(r["app_name"] == "pipe" for r in rs) == 200)
    env = dict(os.environ, NOCRAVEN_SOCKET=str(engine.socket))
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{NOCRAVEN} buffer tail --limit 200 --json | head -1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_follow_says_so_when_the_engine_goes_away(tmp_path: Path) -> None:
    running = start_engine(tmp_path / "engine")
    follow = subprocess.Popen(
        [NOCRAVEN, "--socket", str(running.socket), "buffer", "tail", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        running.stop()
        _, stderr = follow.communicate(timeout=15)
    finally:
        follow.kill()
    assert follow.returncode == 3, stderr
    assert len(stderr.strip().splitlines()) == 1 and "engine" in stderr


def test_support_bundles_are_private_distinct_and_hold_no_secret(tmp_path: Path) -> None:
    running = start_engine(
        tmp_path / "engine",
        '[snmptrap]\ncommunities = ["venue-s3cret"]\n[api]\ntokens = ["read-token-s3cret-1234"]\n',
    )
    try:
        config = json.loads(running.cli("config", "check", str(running.config_path), "--json").stdout)
        assert config["config"]["snmptrap"]["communities"] == ["***"]
        with Client(running.socket) as client:
            shown = client.config()
            paths = [Path(client.write_bundle().path) for _ in range(3)]
        assert shown["snmptrap"]["communities"] == ["***"] and shown["api"]["tokens"] == ["***"]
        assert len(set(paths)) == 3
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    assert b"s3cret" not in extracted.read(), member.name
    finally:
        running.stop()


def test_the_data_dir_is_private_and_mended_at_start(tmp_path: Path) -> None:
    data = tmp_path / "engine" / "data"
    data.mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    leftover = data / "notes.txt"
    leftover.write_text("from an older version")
    leftover.chmod(0o644)
    running = start_engine(tmp_path / "engine")
    try:
        assert stat.S_IMODE(data.stat().st_mode) in (0o700, 0o750)
        for path in [leftover, data / "buffer.db"]:
            assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, path
    finally:
        running.stop()
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, path


def _engine_exit(directory: Path, extra: str) -> subprocess.CompletedProcess[str]:
    config = write_config(directory, extra)
    return subprocess.run(
        [NOCRAVEN, "engine", "--config", str(config)], capture_output=True, text=True, timeout=30, check=False
    )


def test_startup_failures_name_the_key_and_exit_2(tmp_path: Path) -> None:
    missing_cert = (
        '[api]\ntcp = "127.0.0.1:0"\ntls_cert = "/nonexistent/cert.pem"\n'
        'tls_key = "/nonexistent/key.pem"\ntokens = ["t0123456789"]\n'
    )
    cases = {
        "api.tls_cert": (tmp_path / "a", missing_cert),
        "engine.data_dir": (tmp_path / "b", f'[engine]\ndata_dir = "{Path("/proc/version")}/data"\n'),
        "engine.socket": (tmp_path / "c", f'[engine]\nsocket = "{tmp_path / ("s" * 120)}.sock"\n'),
    }
    for key, (directory, extra) in cases.items():
        result = _engine_exit(directory, extra)
        assert result.returncode == 2, (key, result.stderr)
        assert key in result.stderr, (key, result.stderr)
        assert "Traceback" not in result.stderr
        check = run_cli("config", "check", str(directory / "nocraven.toml"))
        assert check.returncode == 2 and key in check.stderr, (key, check.stderr)


def test_an_api_port_in_use_names_the_key_and_the_holder(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        extra = (
            f'[api]\ntcp = "127.0.0.1:{port}"\ntls_cert = "{tmp_path / "server.pem"}"\n'
            f'tls_key = "{tmp_path / "server.pem"}"\ntokens = ["t0123456789"]\n'
        )
        result = _engine_exit(tmp_path / "engine", extra)
    assert result.returncode == 2, result.stderr
    assert "api.tcp" in result.stderr and "in use" in result.stderr and f"pid {os.getpid()}" in result.stderr


def test_a_failed_listener_is_logged_once_and_fails_status(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        running = start_engine(tmp_path / "engine", f'[syslog]\nudp = "127.0.0.1:{port}"\n')
        try:
            time.sleep(5)  # backoff 1 s, 2 s: at least three failures
            status = running.cli("status", "--json")
            assert status.returncode == 1
            assert json.loads(status.stdout)["components"]["syslog"]["state"] in ("failed", "restarting")
            assert "syslog" in status.stderr
            log = running.log()
            assert log.count("component syslog crashed") == 1
            assert "failed again" in log
        finally:
            running.stop()


def test_malformed_http_gets_the_json_envelope(engine: RunningEngine) -> None:
    transport = httpx.HTTPTransport(uds=str(engine.socket))
    with httpx.Client(transport=transport, base_url="http://nocraven") as http:
        response = http.get("/v1/status", headers={"X-Big": "a" * 200_000})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_ctrl_c_stops_the_engine_quickly_without_restarting_anything(tmp_path: Path) -> None:
    running = start_engine(tmp_path / "engine")
    follow = subprocess.Popen(
        [NOCRAVEN, "--socket", str(running.socket), "buffer", "tail", "--follow"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        started = time.monotonic()
        running.proc.send_signal(signal.SIGINT)
        running.proc.wait(10)
        took = time.monotonic() - started
    finally:
        follow.kill()
    log = running.log()
    assert "crashed" not in log and "restarting" not in log, log
    assert took < 3.0, took  # generous for a loaded CI machine; it is well under a second idle


@pytest.mark.parametrize("role_token", ["read-token-abcdef123456"])
def test_a_refused_token_is_never_echoed(role_token: str) -> None:
    from nocraven.api.roles import TokenRoles

    roles = TokenRoles([role_token], ["admin-token-zyxwvu987654"])
    assert role_token[-4:] not in roles.role_of(f"Bearer {role_token}").who
    assert "9876" not in roles.role_of("Bearer admin-token-zyxwvu987654").who
    assert "zzzz" not in roles.role_of("Bearer nope-zzzz").who


def test_the_ledger_shows_every_drop(engine: RunningEngine) -> None:
    send(engine, ["<13>1 - h ledgered - - - before the purge"])
    wait_for_syslog(engine, lambda rs: any(r["app_name"] == "ledgered" for r in rs))
    time.sleep(1.5)  # sealed
    assert engine.cli("buffer", "purge", "--service", "syslog", "--yes").returncode == 0
    ledger = engine.cli("buffer", "ledger", "--json")
    assert ledger.returncode == 0, ledger.stderr
    entries = json.loads(ledger.stdout)["entries"]
    purged = [e for e in entries if e["reason"] == "purged"]
    assert purged and purged[0]["service"] == "syslog" and purged[0]["records"] >= 1
    human = engine.cli("buffer", "ledger", "--service", "syslog")
    assert human.returncode == 0 and "purged" in human.stdout
