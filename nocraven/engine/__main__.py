"""`python -m nocraven.engine`: the engine, as the demo and the packaging start it."""

from __future__ import annotations

from nocraven.engine.main import main

if __name__ == "__main__":
    main()
