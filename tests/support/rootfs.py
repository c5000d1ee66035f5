"""A fresh Debian 12 root for package tests: debootstrapped once from the Debian mirror (a
package registry, so reachable here), kept as a tarball, unpacked anew for every test."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the package needs on a minimal box (python3, adduser), plus systemd for `systemd-analyze`.
INCLUDE = "python3,python3-venv,systemd,passwd,adduser"
CACHE = Path(os.environ.get("NOCRAVEN_ROOTFS_CACHE", "/var/tmp/nocraven-rootfs")) / f"{SUITE}-minbase.tar.gz"


def unavailable() -> str | None:
    """Why a root cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, namespaces)"
    for tool in ("unshare", "chroot", "dpkg-deb", "tar"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not CACHE.exists() and shutil.which("debootstrap") is None:
        return "debootstrap is not installed (apt-get install debootstrap)"
    return None


def cached_tarball() -> Path:
    """The debootstrapped root as a tarball, made on first use (about 5 minutes)."""
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs make it once
        if CACHE.exists():
            return CACHE
        with tempfile.TemporaryDirectory(dir=CACHE.parent) as work:
            root = Path(work) / "root"
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, str(root), MIRROR],
                check=True,
                capture_output=True,
                timeout=1800,
            )
            partial = CACHE.with_suffix(".partial")
            subprocess.run(["tar", "--numeric-owner", "-czf", str(partial), "-C", str(root), "."], check=True)
            partial.rename(CACHE)
    return CACHE


def fresh_root(directory: Path) -> Path:
    root = directory / "root"
    root.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-xzf", str(cached_tarball()), "-C", str(root)], check=True)
    return root
