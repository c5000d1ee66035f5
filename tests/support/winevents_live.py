"""The Windows event endpoint as the engine runs it: a real engine with `[winevents]` on
127.0.0.1 over TLS (trustme certificates), agents posting with Debian's `curl` or httpx, and the
records read back with `nocraven buffer tail --json --service winevent`."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trustme

from tests.support.engine import RunningEngine, start_engine
from tests.support.winevents_server import DC01, FS01, tls_files

NDJSON = "application/x-ndjson"


@dataclass
class LiveEndpoint:
    engine: RunningEngine
    ca: trustme.CA
    ca_file: Path
    address: str  # "127.0.0.1:PORT" as the collector bound it
    config_extra: str  # the engine config's [winevents] section

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    def client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def client(self, timeout: float = 20) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.client_ssl(), timeout=timeout)

    def curl(self, path: str, body: bytes, *headers: str) -> tuple[int, Any]:
        """POST with Debian's curl; (status, decoded JSON reply)."""
        args = ["curl", "-sS", "--max-time", "30", "--cacert", str(self.ca_file)]
        for header in headers:
            args += ["-H", header]
        args += ["--data-binary", "@-", "-w", "\n%{http_code}", self.url + path]
        done = subprocess.run(args, input=body, capture_output=True, timeout=40, check=False)
        assert done.returncode == 0, done.stderr.decode()
        text, _, status = done.stdout.decode().rpartition("\n")
        return int(status), json.loads(text) if text.strip() else None

    def records(self, limit: int = 10_000) -> list[dict[str, Any]]:
        tail = self.engine.cli("buffer", "tail", "--json", "--service", "winevent", "--limit", str(limit))
        assert tail.returncode == 0, tail.stderr
        return [json.loads(line) for line in tail.stdout.splitlines()]

    def agents(self) -> dict[str, Any]:
        answer = self.engine.cli("winevents", "agents", "--json")
        assert answer.returncode == 0, answer.stderr
        document: dict[str, Any] = json.loads(answer.stdout)
        return document


def winevents_toml(cert_file: Path, key_file: Path, tokens: tuple[str, ...], **settings: Any) -> str:
    """The `[winevents]` section of a live endpoint over TLS on an ephemeral port."""
    lines = ["[winevents]", 'listen = "127.0.0.1:0"', f"tokens = {json.dumps(list(tokens))}"]
    lines += [f'tls_cert = "{cert_file}"', f'tls_key = "{key_file}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def start_live(directory: Path, tokens: tuple[str, ...] = (DC01, FS01), **settings: Any) -> LiveEndpoint:
    """An engine whose endpoint is up (its address known); its TLS files stay in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, cert_file, key_file, ca_file = tls_files(directory)
    extra = winevents_toml(cert_file, key_file, tokens, **settings)
    return _running(directory, extra, ca, ca_file)


def restart_live(endpoint: LiveEndpoint) -> LiveEndpoint:
    """The same engine config and data directory started again (after a stop or a kill)."""
    return _running(endpoint.engine.directory, endpoint.config_extra, endpoint.ca, endpoint.ca_file)


def _running(directory: Path, extra: str, ca: trustme.CA, ca_file: Path) -> LiveEndpoint:
    engine = start_engine(directory, extra, wait=60)
    try:
        address = wait_for_listener(engine)
    except Exception:
        engine.stop()
        raise
    return LiveEndpoint(engine, ca, ca_file, address, extra)


def wait_for_listener(engine: RunningEngine, wait: float = 20) -> str:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = json.loads(engine.cli("status", "--json").stdout or "{}")
        listeners = status.get("components", {}).get("winevents", {}).get("detail", {}).get("listeners", [])
        if listeners:
            return str(listeners[0]["address"])
        time.sleep(0.2)
    raise RuntimeError(f"the winevents endpoint did not come up within {wait} s:\n{engine.log()}")
