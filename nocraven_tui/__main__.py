"""`python -m nocraven_tui [--socket PATH]` runs the console; `... web [--host] [--port] [--socket]` the web panel.

`nocraven console` and `nocraven web` exec exactly these.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nocraven.client import ENV_SOCKET


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nocraven_tui", description="The NoC Raven console.")
    parser.add_argument(
        "--socket", type=Path, metavar="PATH", help=f"engine control socket (default: ${ENV_SOCKET} or the system one)"
    )
    sub = parser.add_subparsers(dest="command")
    web = sub.add_parser("web", help="serve the console in a browser (token-protected)")
    web.add_argument("--host", default="127.0.0.1", help="address to serve on; keep it local or on the VPN")
    web.add_argument("--port", type=int, default=8090, help="TCP port (0 picks a free one)")
    web.add_argument("--socket", type=Path, dest="web_socket", metavar="PATH", help="engine control socket")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "web":
        from nocraven_tui.web import serve

        return serve(args.host, args.port, args.web_socket or args.socket)
    from nocraven_tui.app import NocRavenApp

    app = NocRavenApp(args.socket)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
