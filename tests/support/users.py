"""Run a piece of this test process as another user: fork, drop to uid/gid, report back.

A fork rather than a new process because the interpreter lives under /root here, which other
users cannot execute; the forked child already has everything loaded.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_as(uid: int, gid: int, fn: Callable[..., Any], *args: Any) -> Outcome:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
            os.setgroups([gid])
            os.setgid(gid)
            os.setuid(uid)
            fn(*args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 99
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as out, os.fdopen(err_r) as err:
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(pid, 0)
    return Outcome(os.waitstatus_to_exitcode(status), stdout, stderr)


def cli_as(uid: int, gid: int, socket: str, *argv: str) -> Outcome:
    """The real `nocraven` entry point, as another user."""
    from nocraven.cli.main import main

    def call(socket_path: str) -> None:
        os.environ["NOCRAVEN_SOCKET"] = socket_path
        sys.argv = ["nocraven", *argv]
        main()

    # Warm up as root against no engine: the lazy imports on the way happen here, because the
    # other user may not read the interpreter's library under /root.
    saved = dict(os.environ), list(sys.argv)
    with (
        contextlib.suppress(SystemExit),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        call("/nonexistent/ctl.sock")
    os.environ.clear()
    os.environ.update(saved[0])
    sys.argv = saved[1]
    return run_as(uid, gid, call, socket)
