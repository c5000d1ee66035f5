"""The engine's files are private: the buffer holds every record the venue sent.

The data dir is 0700, or 0750 owned by the admin group when the engine runs as root and that
group exists (so admins may read a support bundle); every file in it 0600 or 0640 alike. The
engine's umask makes new files so, and `secure_data_dir` mends what an older version or a
person left wider, at every start.
"""

from __future__ import annotations

import contextlib
import grp
import os
import stat
from pathlib import Path


def private_modes(admin_group: str) -> tuple[int, int, int | None]:
    """(dir mode, file mode, group id to own them) for this process."""
    gid = None
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            gid = grp.getgrnam(admin_group).gr_gid
    if gid is None:
        return 0o700, 0o600, None
    return 0o750, 0o640, gid


def umask_for(admin_group: str) -> int:
    return 0o027 if private_modes(admin_group)[2] is not None else 0o077


def secure_data_dir(path: Path, admin_group: str) -> None:
    dir_mode, file_mode, gid = private_modes(admin_group)
    path.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    for root, dirs, files in os.walk(path):
        for name, mode in [(root, dir_mode)] + [(os.path.join(root, f), file_mode) for f in files]:
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(name)
                if stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                    continue  # a socket's mode is its own business (the control socket's is 0660)
                if stat.S_IMODE(info.st_mode) != mode:
                    os.chmod(name, mode)
                if gid is not None and info.st_gid != gid:
                    os.chown(name, -1, gid)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
