"""RFC 6587 framing: octet counting and newline framing on one stream, bounded memory."""

from __future__ import annotations

import pytest

from collectors.syslog import SyslogFramer


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def feed_all(framer: SyslogFramer, *chunks: bytes) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + framer.flush()


def test_newline_frames_with_lf_crlf_and_nul() -> None:
    framer = SyslogFramer()
    assert framer.feed(b"<13>one\n<13>two\r\n<13>three\x00<13>four") == [b"<13>one", b"<13>two", b"<13>three"]
    assert framer.flush() == [b"<13>four"]
    assert (framer.frames, framer.errors) == (4, 0)


def test_octet_counted_frames_back_to_back() -> None:
    framer = SyslogFramer()
    assert framer.feed(b"16 <1>2 - - - - - -17 <4>11 - - - - - -") == [b"<1>2 - - - - - -", b"<4>11 - - - - - -"]
    assert framer.flush() == []


def test_octet_counted_message_may_contain_newlines_and_nuls() -> None:
    message = b"<1>3 - - - - - - hello\nworld\x00!"
    assert feed_all(SyslogFramer(), b"%d %s" % (len(message), message)) == [message]


def test_framings_mix_on_one_connection() -> None:
    stream = octet(b"<13>abc") + b"<13>newline\n" + octet(b"<13>a\nbc") + b"\n<13>last\n"
    assert feed_all(SyslogFramer(), stream) == [b"<13>abc", b"<13>newline", b"<13>a\nbc", b"<13>last"]


def test_frames_split_across_feeds_byte_by_byte() -> None:
    stream = octet(b"<13>abc") + b"<13>newline\r\n123 not a count\n" + octet(b"<13>a\nbc") + b"12345\n"
    framer = SyslogFramer()
    got = feed_all(framer, *(stream[i : i + 1] for i in range(len(stream))))
    assert got == [b"<13>abc", b"<13>newline", b"123 not a count", b"<13>a\nbc", b"12345"]
    assert framer.errors == 0
    assert framer.buffered_bytes == 0


def test_digits_not_followed_by_space_and_pri_are_newline_framed() -> None:
    # A count must be followed by " <": anything else is the start of a plain line.
    assert feed_all(SyslogFramer(), b"2026 Jan 10 host: x\n42\n0 <13>zero\n") == [
        b"2026 Jan 10 host: x",
        b"42",
        b"0 <13>zero",
    ]


def test_ten_digit_count_is_not_a_count() -> None:
    assert feed_all(SyslogFramer(), b"1234567890 <13>x\n") == [b"1234567890 <13>x"]


def test_empty_frames_and_separators_between_octet_frames_are_skipped() -> None:
    framer = SyslogFramer()
    stream = b"\n\n\x00\r\n" + octet(b"<13>ab") + b"\n\r\n" + octet(b"<13>cd") + b"\n"
    assert feed_all(framer, stream) == [b"<13>ab", b"<13>cd"]
    assert framer.frames == 2


def test_flush_returns_the_trailing_unterminated_message() -> None:
    framer = SyslogFramer()
    assert framer.feed(b"<13>first\n<13>sec") == [b"<13>first"]
    assert framer.feed(b"ond\r") == []
    assert framer.flush() == [b"<13>second"]
    assert framer.flush() == []


def test_flush_keeps_a_partial_octet_frame_and_counts_it() -> None:
    framer = SyslogFramer()
    assert framer.feed(b"16 <1>2") == []
    assert framer.flush() == [b"<1>2"]
    assert framer.errors == 1
    assert framer.recent_errors == ("octet_frame_incomplete_at_close",)


def test_flush_of_an_undecided_count_prefix_is_a_plain_message() -> None:
    framer = SyslogFramer()
    assert framer.feed(b"16 ") == []
    assert framer.flush() == [b"16 "]
    assert framer.errors == 0


def test_frame_of_exactly_the_maximum_is_accepted() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    message = b"<13>123456"
    assert feed_all(framer, octet(message), message + b"\n") == [message, message]
    assert framer.errors == 0


def test_oversize_line_is_truncated_and_the_rest_skipped_to_the_next_lf() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    got = feed_all(framer, b"<13>" + b"x" * 30, b"y" * 30, b"zzz\n<13>ok\n")
    assert got == [b"<13>xxxxxx", b"<13>ok"]
    assert (framer.errors, framer.oversize) == (1, 1)
    assert framer.recent_errors == ("line_over_max_truncated",)
    assert framer.discarded_bytes == 4 + 30 + 30 + 3 - 10


def test_oversize_line_in_one_chunk_is_truncated() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    assert feed_all(framer, b"<13>" + b"x" * 30 + b"\n<13>ok\n") == [b"<13>xxxxxx", b"<13>ok"]
    assert framer.oversize == 1


def test_oversize_octet_count_is_refused_and_its_bytes_counted_header_included() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    big = b"<13>" + b"x" * 20
    got = feed_all(framer, b"24 " + big[:5], big[5:] + octet(b"<13>ok"))
    assert got == [b"<13>ok"]
    assert (framer.errors, framer.oversize, framer.dropped_frames) == (1, 1, 1)
    assert framer.discarded_bytes == len(b"24 ") + len(big)
    assert framer.recent_errors == ("octet_count_over_max",)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 100_000])
@pytest.mark.parametrize("framing", ["octet", "lf"])
def test_a_lying_octet_count_does_not_swallow_the_connection(chunk: int, framing: str) -> None:
    # Issue 9 item 3: `999999999 <13>...` then 20 good messages; before the fix none came out.
    good = [b"<13>1 2026-12-01T10:00:00Z h app - - - good %d" % i for i in range(20)]
    liar = b"999999999 <13>1 2026-12-01T10:00:00Z h app - - - the lie"
    framed = b"".join(octet(m) if framing == "octet" else m + b"\n" for m in good)
    stream = liar + (b"\n" if framing == "lf" else b"") + framed
    framer = SyslogFramer(max_message_bytes=1024)
    got = feed_all(framer, *(stream[i : i + chunk] for i in range(0, len(stream), chunk)))
    got += framer.flush()
    assert got == good
    assert (framer.errors, framer.dropped_frames) == (1, 1)
    assert framer.discarded_bytes == len(liar)  # every byte of the lie, nothing of the rest


def test_counts_over_the_maximum_found_while_resynchronising_are_errors_too() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    got = framer.feed(b"50 <13>aaaa 60 <13>bbbb 5 <13>c")
    assert got == [b"<13>c"]
    assert (framer.errors, framer.dropped_frames) == (2, 2)
    assert framer.discarded_bytes == len(b"50 <13>aaaa 60 <13>bbbb ")


def test_an_over_long_line_resynchronises_on_the_next_octet_frame() -> None:
    framer = SyslogFramer(max_message_bytes=10)
    got = framer.feed(b"<13>" + b"x" * 30 + octet(b"<13>next"))
    assert got == [b"<13>xxxxxx", b"<13>next"]
    assert framer.discarded_bytes == 24


def test_memory_stays_bounded_while_skipping() -> None:
    framer = SyslogFramer(max_message_bytes=100)
    framer.feed(b"999999 <13>")
    for _ in range(50):
        framer.feed(b"x" * 10_000)
        assert framer.buffered_bytes == 0
    framer.feed(b"<13>no terminator " * 10)
    assert framer.buffered_bytes <= 100 + 1


def test_recent_errors_keeps_the_last_sixteen() -> None:
    framer = SyslogFramer(max_message_bytes=4)
    for _ in range(20):
        framer.feed(b"9 <13>abcde")
    assert framer.errors == 20
    assert len(framer.recent_errors) == 16


def test_many_small_frames_in_one_large_feed() -> None:
    messages = [b"<13>message %d" % i for i in range(20_000)]
    stream = b"".join(b"%d %s" % (len(m), m) if i % 2 else m + b"\n" for i, m in enumerate(messages))
    framer = SyslogFramer()
    assert framer.feed(stream) == messages
    assert framer.frames == len(messages)


def test_accepts_bytearray_and_memoryview() -> None:
    framer = SyslogFramer()
    assert framer.feed(bytearray(b"<13>a\n")) == [b"<13>a"]
    assert framer.feed(memoryview(b"<13>b\n")) == [b"<13>b"]


def test_maximum_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_message_bytes"):
        SyslogFramer(max_message_bytes=0)
