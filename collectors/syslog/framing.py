"""RFC 6587 syslog-over-TCP framer (sans-IO): stream bytes in, whole messages out.

Each frame is classified on its own, so one connection may mix both framings:
- octet counting, `MSG-LEN SP SYSLOG-MSG`, recognised as 1-9 digits, a space and `<`
  (a syslog message starts with its PRI, which is what keeps the guess safe);
- non-transparent framing: everything else, ending at LF (CRLF tolerated) or NUL.

Memory is bounded by `max_message_bytes`. An over-long line is cut at the maximum; an octet
count above the maximum is a framing error (a count can lie: trusting `999999999` would swallow
the rest of the connection). After either, the framer resynchronises: it discards bytes up to
the next terminator or the next plausible frame, `DIGITS SP <` with a count within the maximum,
whichever comes first. Every discarded byte is counted (`discarded_bytes`), so a lying sender
loses at most the frame it lied about. Nothing here raises on any input.
"""

from __future__ import annotations

import re
from collections import deque

from collectors.syslog.fastpath import split_frames

_TERMINATOR = re.compile(rb"[\n\x00]")
_DIGITS = re.compile(rb"[0-9]{1,10}")
_MAX_LENGTH_DIGITS = 9  # 999,999,999 bytes: more digits than that is not a length
# Where a frame may start again after a framing error: a terminator, or an octet count (not the
# tail of a longer digit run) followed by a space and the `<` of a PRI.
_RESYNC = re.compile(rb"[\n\x00]|(?<![0-9])([1-9][0-9]{0,8}) <")
# A chunk may end in the middle of such a header: keep that tail until the next chunk.
_DIGIT_RUN = re.compile(rb"[0-9]+")
_HEADER_TAIL = re.compile(rb"(?<![0-9])[1-9][0-9]{0,8} ?\Z")
_SPACE, _LT, _CR = 0x20, 0x3C, 0x0D

# The plain frames (octet-counted or newline-terminated, within the maximum) split at C speed by
# the syslog fast path's extension; everything else, and everything without it, is `_split`'s.
# Same output and counters either way (tests/unit/syslog/test_syslog_fuzz.py).
_fast_split = split_frames


class SyslogFramer:
    """Splits one TCP (or TLS) connection's byte stream into syslog messages.

    Counters: `frames` messages returned, `errors` framing errors (each with a reason in
    `recent_errors`), `oversize` frames over the maximum (a subset of errors),
    `dropped_frames` frames lost whole (a refused octet count), `discarded_bytes` every byte
    dropped by those errors (a refused frame's header included).
    """

    def __init__(self, max_message_bytes: int = 64 * 1024) -> None:
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be positive, not {max_message_bytes}")
        self.max_message_bytes = max_message_bytes
        self.frames = 0
        self.errors = 0
        self.oversize = 0
        self.discarded_bytes = 0
        self.dropped_frames = 0
        self._recent_errors: deque[str] = deque(maxlen=16)
        self._pending = bytearray()  # the start of an incomplete frame
        self._scanned = 0  # bytes of `_pending` already searched for a terminator
        self._resync = False  # after a framing error: dropping bytes up to the next frame
        self._dropped_digit = False  # the last byte dropped while resynchronising was a digit

    @property
    def recent_errors(self) -> tuple[str, ...]:
        """The last framing error reasons, oldest first (at most 16)."""
        return tuple(self._recent_errors)

    @property
    def buffered_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the next bytes of the stream; return the messages they complete."""
        out: list[bytes] = []
        if not data:
            return out
        if self._pending:
            self._pending += data
            pos = self._split(self._pending, out)
            del self._pending[:pos]
        else:
            # Common case: the chunk starts on a frame boundary, slice it without copying it.
            chunk = bytes(data)
            pos = self._split(chunk, out)
            if pos < len(chunk):
                self._pending = bytearray(chunk[pos:])
        return out

    def flush(self) -> list[bytes]:
        """The connection closed: return a trailing unterminated message, reset the state."""
        pending = bytes(self._pending)
        self._pending = bytearray()
        self._scanned = 0
        self._dropped_digit = False
        if self._resync:
            self._resync = False
            self.discarded_bytes += len(pending)
            return []
        start = 0
        while start < len(pending) and pending[start] in (0x0A, 0x00):
            start += 1
        if start == len(pending):
            return []
        digits = _DIGITS.match(pending, start)
        if digits is not None:
            end = digits.end()
            if (
                end - start <= _MAX_LENGTH_DIGITS
                and end + 1 < len(pending)
                and pending[end] == _SPACE
                and pending[end + 1] == _LT
            ):
                # Keep the partial message: the product keeps everything it was sent.
                self._error("octet_frame_incomplete_at_close")
                self.frames += 1
                return [pending[end + 1 :]]
        message = pending[start:]
        if message[-1:] == b"\r":
            message = message[:-1]
        if not message:
            return []
        self.frames += 1
        return [message]

    def _error(self, reason: str) -> None:
        self.errors += 1
        self._recent_errors.append(reason)

    def _split(self, buf: bytes | bytearray, out: list[bytes]) -> int:
        """Append the complete frames in `buf` to `out`; return how far `buf` was consumed."""
        pos = 0
        end_of_data = len(buf)
        max_bytes = self.max_message_bytes
        resume = self._scanned
        self._scanned = 0
        fast = _fast_split
        while pos < end_of_data:
            if fast is not None and not self._resync:
                taken = len(out)
                pos = fast(buf, pos, max_bytes, resume, out)
                self.frames += len(out) - taken
                if pos >= end_of_data:
                    break
            if self._resync:
                pos = self._resynchronise(buf, pos)
                if self._resync:
                    return pos  # the rest is a possible header tail, kept for the next chunk
                continue
            first = buf[pos]
            if first == 0x0A or first == 0x00:  # empty frame, or a terminator after a count
                pos += 1
                continue
            if 0x31 <= first <= 0x39:  # 1-9: maybe an octet count
                digits = _DIGITS.match(buf, pos)
                assert digits is not None  # the first byte is a digit
                count_end = digits.end()
                count_digits = count_end - pos
                if count_digits <= _MAX_LENGTH_DIGITS:
                    if count_end == end_of_data or (count_end + 1 == end_of_data and buf[count_end] == _SPACE):
                        return pos  # cannot tell the framing yet: wait for more bytes
                    if buf[count_end] == _SPACE and buf[count_end + 1] == _LT:
                        length = int(buf[pos:count_end])
                        start = count_end + 1
                        if length > max_bytes:
                            self._error("octet_count_over_max")
                            self.oversize += 1
                            self.dropped_frames += 1
                            self.discarded_bytes += start - pos
                            self._resync = True
                            pos = start
                            continue
                        if start + length > end_of_data:
                            return pos
                        out.append(bytes(buf[start : start + length]))
                        self.frames += 1
                        pos = start + length
                        continue
            # Non-transparent framing.
            m = _TERMINATOR.search(buf, pos + resume if pos == 0 else pos)
            resume = 0
            if m is None:
                waiting = end_of_data - pos
                if waiting <= max_bytes:
                    self._scanned = waiting
                    return pos
                out.append(bytes(buf[pos : pos + max_bytes]))
                self.frames += 1
                self.oversize += 1
                self._error("line_over_max_truncated")
                pos += max_bytes
                self._resync = True
                continue
            stop = m.start()
            frame_end = stop - 1 if stop > pos and buf[stop - 1] == _CR else stop
            length = frame_end - pos
            if length > max_bytes:
                # Truncated, and the rest dropped as when its terminator is not here yet: up to
                # the terminator or an octet-counted frame inside the rest, whichever is first.
                out.append(bytes(buf[pos : pos + max_bytes]))
                self.frames += 1
                self.oversize += 1
                self._error("line_over_max_truncated")
                pos += max_bytes
                self._resync = True
                continue
            if length:
                out.append(bytes(buf[pos:frame_end]))
                self.frames += 1
            pos = m.end()
        return pos

    def _resynchronise(self, buf: bytes | bytearray, pos: int) -> int:
        """Drop bytes from `pos` up to the next place a frame may start; returns where to go
        on. Still resynchronising afterwards means the data ran out: the return value is then
        the start of a possible header's first bytes (at most 10), kept for the next chunk."""
        max_bytes = self.max_message_bytes
        end_of_data = len(buf)
        if self._dropped_digit:  # the rest of a digit run cut by the chunk boundary is no count
            run = _DIGIT_RUN.match(buf, pos)
            if run is not None:
                self.discarded_bytes += run.end() - pos
                pos = run.end()
                if pos == end_of_data:
                    return pos
            self._dropped_digit = False
        search = pos
        while True:
            m = _RESYNC.search(buf, search)
            if m is None:
                break
            if m.group(1) is None:  # a terminator: the next frame starts after it
                self.discarded_bytes += m.start() - pos
                self._resync = False
                return m.end()
            if int(m.group(1)) <= max_bytes:
                self.discarded_bytes += m.start() - pos
                self._resync = False
                return m.start()
            # Another count over the maximum: one more frame refused, go on looking.
            self._error("octet_count_over_max")
            self.oversize += 1
            self.dropped_frames += 1
            search = m.end()
        tail = _HEADER_TAIL.search(buf, max(pos, end_of_data - _MAX_LENGTH_DIGITS - 1))
        stop = end_of_data if tail is None else tail.start()
        self.discarded_bytes += stop - pos
        self._dropped_digit = tail is None and stop > pos and 0x30 <= buf[stop - 1] <= 0x39
        return stop
