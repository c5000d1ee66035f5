"""Messages between the syslog collector's main process and its stream workers.

The main process accepts TCP and TLS connections and decides which it keeps (allowlist,
`ConnectionTable` limits); a stream worker process reads, frames and parses them. They talk on
a SOCK_SEQPACKET socket pair (one message a datagram, descriptors beside it):

- main -> worker `Open`: a connection, its descriptor attached (SCM_RIGHTS); from then on the
  worker alone reads it, so what one connection sent is parsed and stored in its order.
- main -> worker `Close`: close it (evicted to make room, or idle too long); what it sent so far
  is kept.
- worker -> main `Events`: connections that completed a message (the table's activity) and
  connections that ended (peer closed, handshake failed), so their places are given up.
"""

from __future__ import annotations

import msgspec

MAX_MESSAGE = 64 * 1024


class Open(msgspec.Struct, frozen=True, tag="open"):
    conn: int  # the main process's id for the connection
    listener: str  # "tcp" or "tls"
    source: str  # "IP:PORT" ("[v6]:PORT")
    ip: str  # what limits and the ledger count by


class Close(msgspec.Struct, frozen=True, tag="close"):
    conns: list[int]


class Events(msgspec.Struct, frozen=True, tag="events"):
    active: list[int] = []
    ended: list[int] = []


ToWorker = Open | Close

encode = msgspec.json.Encoder().encode
to_worker = msgspec.json.Decoder(ToWorker)
to_main = msgspec.json.Decoder(Events)
