"""`nocraven ports list` and `ports set` against a real engine: the registry, a live move of
syslog.udp written back to the config file with its comments, and refusals that change nothing
(a port another process holds is refused naming that process)."""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib
import uuid
from collections.abc import Iterator

import pytest

from nocraven.client import Client
from tests.support.engine import RunningEngine, start_engine
from tests.support.syslog import listener_port, wait_for_syslog, with_message

pytestmark = pytest.mark.integration

COMMENTS = "# arena-01: the switches send syslog here\n# (ask the NOC before changing a port)\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    # One engine for the module: each test reads the ports it needs afresh.
    running = start_engine(tmp_path_factory.mktemp("ports") / "engine")
    # Comments the write-back must keep (the file is read again at each change).
    running.config_path.write_text(COMMENTS + running.config_path.read_text())
    yield running
    running.stop()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def udp_port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def ports(engine: RunningEngine) -> dict[str, dict[str, object]]:
    result = engine.cli("ports", "list", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["persisted"] is True and data["config"] == str(engine.config_path)
    return {entry["name"]: entry for entry in data["ports"]}


def send(port: int, text: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(f"<13>Dec  1 10:00:00 sw app: {text}".encode(), ("127.0.0.1", port))


def test_list_shows_every_listener_with_its_state(engine: RunningEngine) -> None:
    listed = ports(engine)
    udp = listed["syslog.udp"]
    assert udp["state"] == "listening" and udp["changeable"] is True and udp["proto"] == "udp"
    assert udp["address"] == f"127.0.0.1:{listener_port(engine, 'udp')}"
    assert listed["syslog.tcp"]["state"] == "listening"
    assert listed["syslog.tls"]["state"] == "off"
    assert listed["flow.netflow"]["state"] == "off" and listed["flow.netflow"]["changeable"] is False
    table = engine.cli("ports", "list")
    assert table.returncode == 0 and "syslog.udp" in table.stdout and "listening" in table.stdout
    assert f"saved to {engine.config_path}" in table.stderr


def test_set_moves_syslog_udp_live_and_writes_the_file_with_its_comments(engine: RunningEngine) -> None:
    old_port = listener_port(engine, "udp")
    new_port = free_udp_port()
    result = engine.cli("ports", "set", "syslog.udp", f"127.0.0.1:{new_port}")
    assert result.returncode == 0, result.stderr
    assert f"syslog.udp now listens on 127.0.0.1:{new_port}" in result.stdout
    assert listener_port(engine, "udp") == new_port
    assert ports(engine)["syslog.udp"]["address"] == f"127.0.0.1:{new_port}"
    text = engine.config_path.read_text()
    assert text.startswith(COMMENTS) and text.count(COMMENTS) == 1
    assert tomllib.loads(text)["syslog"]["udp"] == f"127.0.0.1:{new_port}"
    with Client(engine.socket) as client:
        assert client.config()["syslog"] == {**client.config()["syslog"], "udp": f"127.0.0.1:{new_port}"}
    run = uuid.uuid4().hex[:10]
    send(new_port, f"{run} on the new port")
    wait_for_syslog(engine, with_message(f"{run} on the new port"))
    # The old port is closed once drained (2 s): nothing listens there any more.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and udp_port_in_use(old_port):
        time.sleep(0.2)
    assert not udp_port_in_use(old_port)


def test_a_port_another_process_holds_is_refused_naming_it(engine: RunningEngine) -> None:
    before = engine.config_path.read_text()
    old_port = listener_port(engine, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        for check in ([], ["--check"]):
            result = engine.cli("ports", "set", "syslog.udp", f"127.0.0.1:{taken}", *check)
            assert result.returncode == 1, result.stdout
            assert f"port {taken}/udp is in use" in result.stderr
            assert f"(pid {os.getpid()})" in result.stderr  # this test process holds it
            assert "nothing was changed" in result.stderr
    assert engine.config_path.read_text() == before
    assert listener_port(engine, "udp") == old_port
    run = uuid.uuid4().hex[:10]
    send(old_port, f"{run} still on the old port")
    wait_for_syslog(engine, with_message(f"{run} still on the old port"))


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["syslog.udp", "127.0.0.1"], 2, "HOST:PORT"),
        (["syslog.udp", "127.0.0.1:99999"], 2, "out of range"),
        (["syslog.nope", "127.0.0.1:2000"], 2, "no listener named 'syslog.nope'"),
        (["flow.netflow", "127.0.0.1:2055"], 1, "cannot be moved live"),
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(
    engine: RunningEngine, args: list[str], code: int, said: str
) -> None:
    before = engine.config_path.read_text()
    result = engine.cli("ports", "set", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert engine.config_path.read_text() == before


def test_set_moves_syslog_tcp_live_and_open_connections_stay(engine: RunningEngine) -> None:
    old_port = listener_port(engine, "tcp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        new_port = probe.getsockname()[1]
    run = uuid.uuid4().hex[:10]
    with socket.create_connection(("127.0.0.1", old_port)) as before:
        before.sendall(f"<13>Dec  1 10:00:00 sw app: {run} before\n".encode())
        wait_for_syslog(engine, with_message(f"{run} before"))
        result = engine.cli("ports", "set", "syslog.tcp", f"127.0.0.1:{new_port}")
        assert result.returncode == 0, result.stderr
        assert listener_port(engine, "tcp") == new_port
        with socket.create_connection(("127.0.0.1", new_port)) as after:
            after.sendall(f"<13>Dec  1 10:00:00 sw app: {run} new connection\n".encode())
            wait_for_syslog(engine, with_message(f"{run} new connection"))
        # The connection made before the move is not cut: it still delivers.
        time.sleep(2.5)  # past the old listener's drain
        before.sendall(f"<13>Dec  1 10:00:00 sw app: {run} same connection\n".encode())
        wait_for_syslog(engine, with_message(f"{run} same connection"))
    assert tomllib.loads(engine.config_path.read_text())["syslog"]["tcp"] == f"127.0.0.1:{new_port}"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", old_port), timeout=5).close()
