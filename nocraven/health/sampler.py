"""One psutil reading of the box and of the engine process (blocking: run it in a thread)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from nocraven.schema.health import InterfaceCounters, SystemSample


def existing_parent(path: Path) -> Path:
    """The data dir, or the nearest parent that exists (before the engine created it)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


class SystemSampler:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process = psutil.Process()
        psutil.cpu_percent(None)  # the first call only starts the measurement window

    def sample(self) -> SystemSample:
        path = existing_parent(self.data_dir)
        disk = psutil.disk_usage(str(path))
        fs = os.statvfs(path)
        inodes_used = fs.f_files - fs.f_ffree
        memory = psutil.virtual_memory()
        load1, load5, load15 = os.getloadavg()
        interfaces = {
            name: InterfaceCounters(
                bytes_recv=c.bytes_recv,
                bytes_sent=c.bytes_sent,
                errors_in=c.errin,
                errors_out=c.errout,
                drops_in=c.dropin,
                drops_out=c.dropout,
            )
            for name, c in psutil.net_io_counters(pernic=True).items()
        }
        with self.process.oneshot():
            rss = self.process.memory_info().rss
            try:
                open_files = self.process.num_fds()
            except (AttributeError, psutil.Error):
                open_files = len(self.process.open_files())
        return SystemSample(
            at=time.time(),
            cpu_percent=psutil.cpu_percent(None),
            cpu_count=psutil.cpu_count() or 1,
            load1=load1,
            load5=load5,
            load15=load15,
            memory_total_bytes=memory.total,
            memory_available_bytes=memory.available,
            memory_percent=memory.percent,
            disk_path=str(path),
            disk_total_bytes=disk.total,
            disk_used_bytes=disk.used,
            disk_free_bytes=disk.free,
            disk_percent=disk.percent,
            inodes_total=fs.f_files,
            inodes_free=fs.f_ffree,
            inodes_percent=100.0 * inodes_used / fs.f_files if fs.f_files else 0.0,
            interfaces=interfaces,
            process_rss_bytes=rss,
            process_open_files=open_files,
        )
