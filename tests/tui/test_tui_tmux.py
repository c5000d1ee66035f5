"""The real `nocraven-console` in a real terminal (tmux, 80x24) against a real engine.

Needs the Debian package `tmux`. Each test runs its own tmux server (-L) so nothing is shared
with a tmux the developer has open.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nocraven.api.wire import to_plain
from nocraven.client import Client
from tests.support.engine import RunningEngine
from tests.tui.conftest import key

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (Debian package tmux)")

CONSOLE = Path(sys.executable).with_name("nocraven-console")


class Tmux:
    def __init__(self, name: str) -> None:
        self.server = name

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True, check=False)

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # The pane's shell reports the console's exit code, so a crash shows in the capture.
        wrapped = f"env {exports} {command}; echo console-exit=$?; sleep 30"
        result = self.run("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", wrapped)
        assert result.returncode == 0, result.stderr

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "console", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "console").stdout

    def wait_for(self, *texts: str, timeout: float = 15.0) -> str:
        """The screen once any of `texts` shows on it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if any(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"none of {texts!r} appeared within {timeout} s; the screen:\n{screen}")

    def kill(self) -> None:
        self.run("kill-server")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"nocraven-test-{os.getpid()}-{time.monotonic_ns()}")
    yield session
    session.kill()


def console_env(engine: RunningEngine, term: str = "xterm-256color") -> dict[str, str]:
    return {"NOCRAVEN_SOCKET": str(engine.socket), "TERM": term, "LANG": "C.UTF-8"}


def test_console_modes_in_a_real_terminal(shared_engine: RunningEngine, tmux: Tmux) -> None:
    with Client(shared_engine.socket) as client:
        status = to_plain(client.status())
    tmux.start(str(CONSOLE), console_env(shared_engine))
    screen = tmux.wait_for("engine up")
    assert status["hostname"][:8] in screen
    assert "1 Dashboard" in screen  # nine modes: the later tabs do not all fit 80 columns
    assert "Components" in screen

    tmux.keys("2")
    tmux.wait_for("Services", timeout=5)

    tmux.keys("3")
    screen = tmux.wait_for("following", timeout=5)
    assert "sampled" in screen

    tmux.keys(key("forwarding"))
    tmux.wait_for("No sink configured", timeout=5)

    tmux.keys(key("vpn"))
    tmux.wait_for("selection automatic", timeout=5)

    tmux.keys(key("system"))
    # The engine's answer fills the tables a moment after the screen shows (a first visit reads).
    screen = tmux.wait_for("127.0.0.1/8", timeout=5)
    assert status["version"] in screen and "Interfaces" in screen

    tmux.keys("?")
    tmux.wait_for("q or Ctrl-C leaves the console", timeout=5)
    tmux.keys("Escape")
    deadline = time.monotonic() + 5
    while "Escape closes" in tmux.screen() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Escape closes" not in tmux.screen(), "Escape did not close the keys"
    tmux.keys("1")
    tmux.wait_for("Components", timeout=5)
    tmux.keys("C-c")  # as the README says: Ctrl-C leaves the console, as q does (tested with Pilot)
    assert "console-exit=0" in tmux.wait_for("console-exit=", timeout=10)


def test_linux_console_gets_ascii_borders(shared_engine: RunningEngine, tmux: Tmux) -> None:
    tmux.start(str(CONSOLE), console_env(shared_engine, term="linux"))
    screen = tmux.wait_for("engine up")
    assert "+- Syslog" in screen and "+- Components" in screen
    assert "╭" not in screen and "│" not in screen


def test_login_shell_form_runs_only_nocraven(shared_engine: RunningEngine) -> None:
    env = {**os.environ, "NOCRAVEN_SOCKET": str(shared_engine.socket)}
    with Client(shared_engine.socket) as client:
        version = to_plain(client.status())["version"]
    ok = subprocess.run([str(CONSOLE), "-c", "nocraven status"], capture_output=True, text=True, env=env, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert f"NoC Raven engine {version}" in ok.stdout

    refused = subprocess.run([str(CONSOLE), "-c", "sh"], capture_output=True, text=True, env=env, timeout=30)
    assert refused.returncode == 126
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "'sh' is not allowed" in refused.stderr

    forced = subprocess.run(
        [str(CONSOLE)],
        capture_output=True,
        text=True,
        env={**env, "SSH_ORIGINAL_COMMAND": "scp -t /etc"},
        timeout=30,
    )
    assert forced.returncode == 126

    via_ssh = subprocess.run(
        [str(CONSOLE)],
        capture_output=True,
        text=True,
        env={**env, "SSH_ORIGINAL_COMMAND": "nocraven status --json"},
        timeout=30,
    )
    assert via_ssh.returncode == 0 and f'"version": "{version}"' in via_ssh.stdout
