"""Operator MIB files on disk: naming them and adding one (no pysnmp here, the engine imports it).

A MIB file is stored under its module name (`RAVEN-TEST-MIB.mib`), so adding a new version of
a module replaces the old file instead of leaving two definitions of one module.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MODULE_NAME = re.compile(rb"^\s*([A-Za-z][\w-]*)\s+DEFINITIONS\s*::=\s*BEGIN", re.M)
MAX_MIB_BYTES = 4 << 20  # the largest vendor MIBs are about 1 MB


def module_name(text: bytes) -> str | None:
    """The first module a MIB file defines, or None if it is not SMI text."""
    match = MODULE_NAME.search(text)
    return match.group(1).decode() if match else None


def mib_files(directory: Path) -> list[str]:
    """The MIB files in `directory` (as the compiler will read them), by name."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def store_mib(directory: Path, module: str, text: bytes) -> Path:
    """Write `text` as `<module>.mib` in `directory`, atomically; other files of the same module
    (another extension) are removed so the compiler sees one definition."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{module}.mib"
    temporary = directory / f".{module}.mib.tmp"
    with open(temporary, "wb") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    for other in directory.iterdir():
        if other != target and other.is_file() and other.stem == module and not other.name.startswith("."):
            other.unlink()
    os.replace(temporary, target)
    return target
