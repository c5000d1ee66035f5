"""A child process that dies with its parent (Linux PR_SET_PDEATHSIG).

Used for every process the box starts under another: collectors under the engine, openvpn under
the VPN supervisor, the demo's engine, NOC and venue under `nocraven demo`. Without it a parent
killed with SIGKILL leaves children holding ports and tunnels that its restart then fights.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def term_with_parent() -> None:
    """SIGTERM this process when its parent dies. As a `preexec_fn` it applies to the child
    before exec; note that Linux ties it to the parent *thread* that forked."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
