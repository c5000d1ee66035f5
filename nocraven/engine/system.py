"""The box itself: interfaces and addresses (pyroute2), listeners, and support bundles."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from nocraven.api.wire import to_plain
from nocraven.schema.engine import Interface


def interfaces() -> list[Interface]:
    """Every link with its state and addresses, as `ip addr` would show them."""
    from pyroute2 import IPRoute  # on use: pyroute2 is ~9 MiB of the engine's memory

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
            Interface(
                name=link.get_attr("IFLA_IFNAME"),
                state=(link.get_attr("IFLA_OPERSTATE") or "unknown").lower(),
                mac=link.get_attr("IFLA_ADDRESS"),
                mtu=link.get_attr("IFLA_MTU"),
                addresses=addresses.get(link["index"], []),
            )
        )
    return sorted(result, key=lambda i: (i.name != "lo", i.name or ""))


def write_support_bundle(directory: Path, documents: dict[str, Any]) -> Path:
    """A tar.gz of JSON documents plus the engine's recent journal, for the NOC to inspect.
    Readable by its owner only (it holds the config and the log); never overwrites another."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = time.strftime("nocraven-support-%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(1000):
        path = directory / (f"{stem}.tar.gz" if attempt == 0 else f"{stem}-{attempt}.tar.gz")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"too many support bundles named {stem}* in {directory}")
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, doc in documents.items():
            _add(tar, f"{name}.json", json.dumps(to_plain(doc), indent=2, default=str).encode())
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
