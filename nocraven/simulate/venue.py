"""Simulated venue devices sending syslog to the engine, for `nocraven demo`.

Switches, firewalls, wireless controllers and servers in their own dialects, at a modest
steady rate with an occasional burst, only to loopback.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

Template = Callable[[random.Random, datetime], str]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def bsd_time(now: datetime) -> str:
    return f"{MONTHS[now.month - 1]} {now.day:2d} {now:%H:%M:%S}"


def cisco_ios(rng: random.Random, now: datetime) -> str:
    port = rng.randint(1, 48)
    state = rng.choice(["up", "down"])
    return (
        f"<189>{rng.randint(1000, 99999)}: *{bsd_time(now)}.{rng.randint(0, 999):03d} UTC: "
        f"%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to {state}"
    )


def fortios(rng: random.Random, now: datetime) -> str:
    return (
        f'<189>date={now:%Y-%m-%d} time={now:%H:%M:%S} devname="FG-VENUE-EDGE" devid="FG100F0000000001" '
        f'logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.20.{rng.randint(0, 255)}.'
        f"{rng.randint(1, 254)} srcport={rng.randint(1024, 65535)} dstip=203.0.113.{rng.randint(1, 254)} "
        f'dstport=443 proto=6 action="accept" sentbyte={rng.randint(100, 90000)} rcvdbyte={rng.randint(100, 900000)}'
    )


def aruba(rng: random.Random, now: datetime) -> str:
    ap = rng.randint(1, 220)
    return (
        f"<12>{bsd_time(now)} {now.year} 10.1.0.5 stm[2841]: <501080> <NOTI> |AP ap-{ap:03d}@10.1.{ap}.2 stm| "
        f"Deauth from sta: 3c:22:fb:{rng.randint(0, 255):02x}:{rng.randint(0, 255):02x}:10 reason 8"
    )


def linux_sshd(rng: random.Random, now: datetime) -> str:
    host = rng.choice(["pos-srv-01", "dns-01", "cam-nvr-02"])
    return (
        f"<38>{bsd_time(now)} {host} sshd[{rng.randint(300, 30000)}]: Accepted publickey for ops from "
        f"10.50.0.{rng.randint(2, 250)} port {rng.randint(30000, 60000)} ssh2"
    )


def rfc5424_app(rng: random.Random, now: datetime) -> str:
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    gate = rng.randint(1, 24)
    return (
        f'<134>1 {stamp} turnstile-gw ticketing {rng.randint(100, 999)} SCAN [gate@32473 id="{gate}" '
        f'result="{rng.choice(["ok", "ok", "ok", "denied"])}"] ticket scanned at gate {gate}'
    )


def unparsed_noise(rng: random.Random, now: datetime) -> str:
    return f"UPS battery at {rng.randint(60, 100)}% load {rng.randint(10, 80)}%"


TEMPLATES: list[tuple[Template, int]] = [
    (cisco_ios, 25),
    (fortios, 30),
    (aruba, 20),
    (linux_sshd, 10),
    (rfc5424_app, 14),
    (unparsed_noise, 1),
]


def run(port: int, rate: float, duration: float | None) -> None:
    rng = random.Random(42)
    templates, weights = zip(*TEMPLATES, strict=True)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(6)]  # six "devices"
    for i, s in enumerate(senders):
        s.bind((f"127.0.0.{10 + i}", 0))
    started = time.monotonic()
    sent = 0
    while duration is None or time.monotonic() - started < duration:
        burst = 20 if rng.random() < 0.02 else 1  # now and then a device floods for a moment
        for _ in range(burst):
            template = rng.choices(templates, weights)[0]
            message = template(rng, datetime.now(UTC)).encode()
            rng.choice(senders).sendto(message, ("127.0.0.1", port))
            sent += 1
        time.sleep(max(0.0, started + sent / rate - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description="Send simulated venue syslog to a NoC Raven engine on loopback.")
    parser.add_argument("--port", type=int, required=True, help="the engine's syslog UDP port on 127.0.0.1")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second (default 200)")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until stopped)")
    args = parser.parse_args()
    try:
        run(args.port, args.rate, args.duration)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
