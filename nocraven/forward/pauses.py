"""The operator's pauses, kept on disk so a paused sink stays paused through an engine restart.

A pause is an operator's decision ("do not send to the NOC until I say so"); forgetting it on a
restart would forward records the operator chose to hold. The set of paused sink names lives in
one small JSON file in the data dir, replaced atomically (temp file, fsync, rename, fsync of the
directory) so a crash leaves either the old set or the new one, never half a file.

Names of sinks no longer in the config stay in the file (harmless, and the pause comes back if
the sink does); `resume` without a sink clears every configured one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

FILENAME = "forward-paused.json"


class PauseFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILENAME

    def load(self) -> set[str]:
        """The paused sink names; none if the file is missing. An unreadable file is reported and
        read as no pause (it is only ever written whole, so this means someone edited it)."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.error("cannot read the paused sinks from %s (%s); no sink starts paused: pause again", self.path, exc)
            return set()
        paused = document.get("paused") if isinstance(document, dict) else None
        if not isinstance(paused, list) or not all(isinstance(name, str) for name in paused):
            log.error("%s holds no list of sink names under 'paused'; no sink starts paused: pause again", self.path)
            return set()
        return set(paused)

    def save(self, paused: set[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"paused": sorted(paused)}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
