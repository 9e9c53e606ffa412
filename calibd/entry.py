"""The `calibd` command's entry point: SIGTERM is handled before the heavy imports.

Importing the command line (pydantic models, numpy, astropy) takes a good part of a second,
more on a loaded machine; a SIGTERM in that time would kill `calibd run` by the signal. Until
the daemon's own handlers take over, a SIGTERM is a clean exit: nothing was received yet.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["main", "stop_before_start"]


def stop_before_start(signum: int, _frame: object) -> None:
    """SIGTERM before the daemon's loop runs: nothing was received yet, so exit cleanly."""
    print(f"calibd: {signal.Signals(signum).name} before start-up ended; exiting", file=sys.stderr)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, stop_before_start)
    from calibd.cli import main as cli_main

    return cli_main(argv)
