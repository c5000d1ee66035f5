"""The engine as a process: start from the CLI, answer on the socket, stop cleanly, one per socket."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.engine import RunningEngine, start_engine


def test_engine_answers_status_and_stops_on_sigterm_within_5s(engine: RunningEngine) -> None:
    result = engine.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    assert '"version"' in result.stdout
    engine.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert engine.proc.wait(5) == 0
    assert time.monotonic() - started < 5
    assert "engine stopped" in engine.log()
    assert not engine.socket.exists()


def test_engine_stops_on_sigint_too(engine: RunningEngine) -> None:
    engine.proc.send_signal(signal.SIGINT)
    assert engine.proc.wait(5) == 0


def test_a_second_engine_on_the_same_socket_refuses_clearly(engine: RunningEngine) -> None:
    second = subprocess.run(
        [str(Path(os.sys.executable).parent / "nocraven"), "engine", "--config", str(engine.config_path)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert second.returncode == 1
    assert f"another engine is already answering on {engine.socket}" in second.stderr
    assert "Traceback" not in second.stderr
    assert engine.cli("status").returncode == 0  # the first one is untouched


def test_socket_has_its_final_mode(engine: RunningEngine) -> None:
    mode = os.stat(engine.socket).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660


def test_a_stale_socket_left_by_a_dead_engine_is_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "engine"
    directory.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(directory / "ctl.sock"))
    stale.close()  # the file stays, nobody listens: what kill -9 leaves behind
    running = start_engine(directory)
    try:
        assert running.cli("status").returncode == 0
    finally:
        running.stop()


def test_a_file_that_is_not_a_socket_is_never_removed(tmp_path: Path) -> None:
    directory = tmp_path / "engine"
    directory.mkdir()
    (directory / "ctl.sock").write_text("precious")
    from tests.support.engine import NOCRAVEN, write_config

    config = write_config(directory)
    result = subprocess.run(
        [NOCRAVEN, "engine", "--config", str(config)], capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 1
    assert "exists and is not a socket" in result.stderr
    assert (directory / "ctl.sock").read_text() == "precious"


def _http(engine: RunningEngine) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(engine.socket)), base_url="http://nocraven")


def test_requests_from_web_pages_are_refused(engine: RunningEngine) -> None:
    with _http(engine) as http:
        for header in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/x"}):
            response = http.get("/v1/status", headers=header)
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "origin_refused"


def test_errors_use_the_envelope(engine: RunningEngine) -> None:
    with _http(engine) as http:
        missing = http.get("/v1/nothing")
        assert missing.status_code == 404
        assert missing.json() == {"error": {"code": "not_found", "message": "no such API path: /v1/nothing"}}
        wrong_method = http.post("/v1/status")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"
