"""The box itself: interfaces and addresses (pyroute2), listeners, and support bundles."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute


def interfaces() -> list[dict[str, Any]]:
    """Every link with its state and addresses, as `ip addr` would show them."""
    with IPRoute() as ipr:
        links = ipr.get_links()
        addresses: dict[int, list[str]] = {}
        for addr in ipr.get_addr():
            address = addr.get_attr("IFA_ADDRESS") or addr.get_attr("IFA_LOCAL")
            if address:
                addresses.setdefault(addr["index"], []).append(f"{address}/{addr['prefixlen']}")
    result = []
    for link in links:
        result.append(
            {
                "name": link.get_attr("IFLA_IFNAME"),
                "state": (link.get_attr("IFLA_OPERSTATE") or "unknown").lower(),
                "mac": link.get_attr("IFLA_ADDRESS"),
                "mtu": link.get_attr("IFLA_MTU"),
                "addresses": addresses.get(link["index"], []),
            }
        )
    return sorted(result, key=lambda i: (i["name"] != "lo", i["name"] or ""))


def listeners(components: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Listeners as the components report them in their status detail."""
    out = []
    for name, comp in components.items():
        for listener in comp.get("detail", {}).get("listeners", []):
            out.append({"service": name, "state": comp.get("state", "unknown")} | listener)
    return out


def write_support_bundle(directory: Path, documents: dict[str, Any]) -> Path:
    """A tar.gz of JSON documents plus the engine's recent journal, for the NOC to inspect."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = directory / time.strftime("nocraven-support-%Y%m%dT%H%M%SZ.tar.gz", time.gmtime())
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in documents.items():
            _add(tar, f"{name}.json", json.dumps(doc, indent=2, default=str).encode())
        journal = _journal()
        if journal:
            _add(tar, "journal.txt", journal)
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _journal() -> bytes:
    if not shutil.which("journalctl"):
        return b""
    try:
        return subprocess.run(
            ["journalctl", "-u", "nocraven", "-n", "2000", "--no-pager"], capture_output=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return b""
