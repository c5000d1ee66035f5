"""`nocraven-console`: the console as a login shell or SSH ForceCommand (a kiosk for technicians).

Interactive: runs the console; leaving it ends the session, there is no shell behind it.
Non-interactive (`-c "..."` as sshd and scp call a login shell, or $SSH_ORIGINAL_COMMAND under a
ForceCommand): runs only `nocraven ...` CLI commands, split like a shell would but never through
one, and refuses anything else with one line and exit 126.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

REFUSED = 126  # what shells return for "found but cannot run"
NOT_FOUND = 127
ALLOWED_PROGRAM = "nocraven"


def refuse(reason: str) -> int:
    print(f"nocraven-console: {reason}; only `nocraven ...` commands are allowed here", file=sys.stderr)
    return REFUSED


def run_restricted(command: str) -> int:
    """Exec `nocraven` with the command's arguments, or refuse. Returns only on refusal or failure."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return refuse(f"cannot parse the command ({exc})")
    if not argv:
        return refuse("empty command")
    if argv[0] != ALLOWED_PROGRAM:
        return refuse(f"{argv[0]!r} is not allowed")
    # Our own console script, next to this interpreter: never whatever PATH finds first.
    program = Path(sys.executable).with_name(ALLOWED_PROGRAM)
    if not os.access(program, os.X_OK):
        print(f"nocraven-console: {program} is missing; reinstall NoC Raven", file=sys.stderr)
        return NOT_FOUND
    os.execv(program, [str(program), *argv[1:]])
    return NOT_FOUND  # not reached: execv replaces this process


def parse_socket(argv: list[str]) -> Path | None:
    if len(argv) >= 2 and argv[0] == "--socket":
        return Path(argv[1])
    return None


def main() -> None:
    # A kiosk user must not stop or core-dump their way out; exec'd commands inherit the ignore.
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    argv = sys.argv[1:]
    if argv and argv[0] == "-c":
        sys.exit(run_restricted(argv[1] if len(argv) > 1 else ""))
    original = os.environ.get("SSH_ORIGINAL_COMMAND")
    if original is not None and original.strip():
        sys.exit(run_restricted(original))
    if argv and argv[0] != "--socket":
        sys.exit(refuse(f"unexpected arguments {shlex.join(argv)!r}"))
    try:
        from nocraven_tui.app import NocRavenApp

        app = NocRavenApp(parse_socket(argv))
        app.run()
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(app.return_code or 0)


if __name__ == "__main__":
    main()
