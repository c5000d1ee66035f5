"""Writing a changed listener address back to the config file, comments and layout kept.

tomlkit round-trips TOML as written (comments, order, blank lines); only the one value changes.
The file is replaced atomically: the new text goes to a temporary file beside it, with the
original's mode and owner, is flushed to disk, then renamed over it. A reader sees the old file
or the new one, never half of one; a failure leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.items import Item, Table


class WriteBackFailed(Exception):
    """One line naming the file and what to do."""


def with_value(text: str, key: str, value: str) -> str:
    """`text` with `key` ("section.name") set to the string `value`; everything else as it was.
    A key or section the file does not have is added (the file may rely on defaults)."""
    section, name = key.split(".", 1)
    document = tomlkit.parse(text)
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document.add(section, table)
    if not isinstance(table, Table):
        raise WriteBackFailed(f"[{section}] is not a table in the config file; fix it by hand")
    old = table.get(name)
    new = tomlkit.item(value)
    if isinstance(old, Item):
        # Keep the comment after the value and the spacing around it.
        new.trivia.indent = old.trivia.indent
        new.trivia.comment_ws = old.trivia.comment_ws
        new.trivia.comment = old.trivia.comment
        new.trivia.trail = old.trivia.trail
    table[name] = new
    return tomlkit.dumps(document)


def replace_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` by rename, keeping the file's mode and owner."""
    try:
        info = path.stat()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    except OSError as exc:
        raise WriteBackFailed(
            f"cannot write {path}: {exc.strerror}; the change is live but not saved, edit the file by hand"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, info.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):  # not root: the file stays ours, as it was
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WriteBackFailed(
            f"cannot write {path}: {exc.strerror}; the change is live but not saved, edit the file by hand"
        ) from None
