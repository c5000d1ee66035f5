"""What the config asks of this machine: files that must be readable, paths that must fit.

Validation proper (`nocraven.config`) looks at the file alone; these checks look at the disk, so
`nocraven config check` and the engine's start catch a missing certificate or a data dir it
cannot write with a line naming the key, instead of a failure deep inside a component.
"""

from __future__ import annotations

import os
from pathlib import Path

from nocraven.config.engine import ApiConfig, EngineConfig

# sun_path is 108 bytes with its terminating NUL.
MAX_SOCKET_PATH = 107


def _readable_file(key: str, value: str) -> str | None:
    if not value:
        return None
    path = Path(value)
    if not path.exists():
        return f"{key} = {value!r}: no such file"
    if not path.is_file():
        return f"{key} = {value!r}: not a regular file"
    if not os.access(path, os.R_OK):
        return f"{key} = {value!r}: not readable by uid {os.getuid()}"
    return None


def _writable_dir(key: str, path: Path) -> str | None:
    """The directory, or the nearest one that exists above it, must let us create and write."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{key} = '{path}': {probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        verb = "write in" if probe == path else f"create it under {probe}"
        return f"{key} = '{path}': cannot {verb} (permission denied for uid {os.getuid()})"
    return None


def problems(engine: EngineConfig, api: ApiConfig, tls_files: dict[str, str]) -> list[str]:
    """One line per thing this machine lacks; `tls_files` maps other keys (e.g. syslog.tls_cert)
    to the files they name, for the listeners that are enabled."""
    found = []
    socket_bytes = len(os.fsencode(str(engine.socket)))
    if socket_bytes > MAX_SOCKET_PATH:
        found.append(
            f"engine.socket = '{engine.socket}': {socket_bytes} bytes is longer than a Unix socket path may be "
            f"({MAX_SOCKET_PATH}); choose a shorter path"
        )
    for key, path in (("engine.data_dir", engine.data_dir), ("engine.socket", engine.socket.parent)):
        problem = _writable_dir(key, path)
        if problem:
            found.append(problem)
    files = dict(tls_files)
    if api.tcp:
        files |= {"api.tls_cert": api.tls_cert, "api.tls_key": api.tls_key}
    for key, value in files.items():
        problem = _readable_file(key, value)
        if problem:
            found.append(problem)
    return found
