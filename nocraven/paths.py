"""Where a user's NoC Raven state lives by default (the dev default's data dir and socket).

Its own module so the client, and the console and CLI through it, need not import the config
schema (and with it every capability's settings and the buffer's storage code) to find a socket.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "nocraven"
