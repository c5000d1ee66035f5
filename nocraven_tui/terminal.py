"""Noticing that the console's terminal is gone.

An SSH logout or a closed terminal window sends SIGHUP, whose default action ends the console.
A terminal can also vanish without one: its pty master closed by a program that did not make
it the console's controlling terminal (a test harness, a web terminal, `script` killed hard).
Textual's input thread then reads end-of-file over and over and the console spins a core,
talking to nobody. The app polls its terminal for a hangup and ends as SIGHUP would end it.
"""

from __future__ import annotations

import select

CHECK_EVERY_S = 1.0
_GONE = select.POLLHUP | select.POLLNVAL


def hung_up(fd: int) -> bool:
    """True when the terminal on `fd` has hung up or `fd` is no longer open."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)  # POLLHUP and POLLNVAL are reported whatever is asked
    return any(revents & _GONE for _, revents in poller.poll(0))
