"""Roles from SO_PEERCRED: the tech group reads, only admins write, everyone else is refused."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nocraven.api.roles import PeerCredentials, Role, UnixRoles
from nocraven.client import Client
from nocraven.errors import ApiError
from tests.support.engine import RunningEngine, start_engine
from tests.support.users import cli_as, run_as

NOBODY = 65534
TECH_GID = 64201  # a group that exists only in this test: config names it by number
OTHER_GID = 64202
ADMIN_GID = 64203

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="switching to another uid needs root")


@pytest.fixture
def shared_engine() -> Iterator[RunningEngine]:
    # pytest's tmp dirs are private to root; this one must be traversable by the test users.
    directory = Path(tempfile.mkdtemp(prefix="nocraven-roles-"))
    directory.chmod(0o755)
    running = start_engine(directory / "engine", f'[engine]\ntech_group = "{TECH_GID}"\nadmin_group = "64203"\n')
    (directory / "engine").chmod(0o755)
    yield running
    running.stop()
    shutil.rmtree(directory, ignore_errors=True)


def test_tech_group_reads_but_may_not_write(shared_engine: RunningEngine) -> None:
    status = cli_as(NOBODY, TECH_GID, str(shared_engine.socket), "status", "--json")
    assert status.code == 0, status.stderr
    assert json.loads(status.stdout)["role"] == "tech"
    purge = cli_as(NOBODY, TECH_GID, str(shared_engine.socket), "buffer", "purge", "--service", "syslog", "--yes")
    assert purge.code == 4, purge.stderr
    assert "needs the admin role" in purge.stderr
    assert purge.stderr.count("\n") == 1


def test_tech_group_reads_forwarding_but_only_admins_pause_it(shared_engine: RunningEngine) -> None:
    socket = str(shared_engine.socket)
    status = cli_as(NOBODY, TECH_GID, socket, "forward", "status", "--json")
    assert status.code == 0, status.stderr
    assert json.loads(status.stdout)["sinks"] == []
    for verb in ("pause", "resume"):
        refused = cli_as(NOBODY, TECH_GID, socket, "forward", verb)
        assert refused.code == 4, refused.stderr
        assert "needs the admin role" in refused.stderr


def test_tech_group_lists_ports_but_only_admins_move_them(shared_engine: RunningEngine) -> None:
    socket = str(shared_engine.socket)
    listed = cli_as(NOBODY, TECH_GID, socket, "ports", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert any(entry["name"] == "syslog.udp" for entry in json.loads(listed.stdout)["ports"])
    before = shared_engine.config_path.read_text()
    refused = cli_as(NOBODY, TECH_GID, socket, "ports", "set", "syslog.udp", "127.0.0.1:1514")
    assert refused.code == 4, refused.stderr
    assert "needs the admin role" in refused.stderr
    assert shared_engine.config_path.read_text() == before


def test_a_tech_user_cannot_stop_the_engine(shared_engine: RunningEngine) -> None:
    def stop() -> None:
        try:
            Client(shared_engine.socket).post("/v1/engine/stop")
        except ApiError as exc:
            print(exc.status, exc.code)

    outcome = run_as(NOBODY, TECH_GID, stop)
    assert outcome.stdout.strip() == "403 forbidden", outcome.stderr
    assert shared_engine.proc.poll() is None


def test_admin_group_members_connect_and_may_write(shared_engine: RunningEngine) -> None:
    status = cli_as(NOBODY, ADMIN_GID, str(shared_engine.socket), "status", "--json")
    assert status.code == 0, status.stderr
    assert json.loads(status.stdout)["role"] == "admin"
    purge = cli_as(NOBODY, ADMIN_GID, str(shared_engine.socket), "buffer", "purge", "--service", "flow", "--yes")
    assert purge.code == 0, purge.stderr


def test_others_are_refused_with_exit_4(shared_engine: RunningEngine) -> None:
    outcome = cli_as(NOBODY, OTHER_GID, str(shared_engine.socket), "status")
    assert outcome.code == 4
    assert "permission denied" in outcome.stderr


def test_unix_roles_map_groups() -> None:
    roles = UnixRoles(admin_group="64203", tech_group=str(TECH_GID))
    me = os.getpid()
    assert roles.role_of(PeerCredentials(me, 0, 0)).role == Role.ADMIN
    # A stranger whose /proc entry we cannot read falls back to the primary gid from SO_PEERCRED.
    assert roles.role_of(PeerCredentials(2**22 + 7, NOBODY, TECH_GID)).role == Role.TECH
    assert roles.role_of(PeerCredentials(2**22 + 7, NOBODY, 64203)).role == Role.ADMIN
    assert roles.role_of(PeerCredentials(2**22 + 7, NOBODY, OTHER_GID)).role == Role.NONE


def test_the_tech_group_may_run_diagnostics_and_others_may_not(shared_engine: RunningEngine) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = str(listening.getsockname()[1])
        tech = cli_as(NOBODY, TECH_GID, str(shared_engine.socket), "diag", "port", "127.0.0.1", port, "--json")
        other = cli_as(NOBODY, OTHER_GID, str(shared_engine.socket), "diag", "port", "127.0.0.1", port)
    assert tech.code == 0, tech.stderr
    assert json.loads(tech.stdout)["state"] == "open"
    assert other.code == 4
    assert "permission denied" in other.stderr
