"""The `calibd` command's entry point: SIGTERM is handled before the heavy imports.

Importing the command line (pydantic models, numpy, astropy, scipy) takes a good part of a
second, more on a loaded machine; a SIGTERM in that time would kill `calibd run` by the signal.
Until the daemon's own handlers take over, a SIGTERM is a clean exit: nothing was received
yet. The handler raises SystemExit(0) wherever the interpreter is; Python may wrap that in
another error on its way out (an import interrupted inside `__set_name__` becomes a
RuntimeError), so whatever escapes after such a SIGTERM still ends with exit status 0.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["main", "stop_before_start"]

_stopped: list[int] = []


def stop_before_start(signum: int, _frame: object) -> None:
    """SIGTERM before the daemon's loop runs: nothing was received yet, so exit cleanly."""
    if not _stopped:
        name = signal.Signals(signum).name
        print(f"calibd: {name} before start-up ended; exiting", file=sys.stderr)
    _stopped.append(signum)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, stop_before_start)
    try:
        from calibd.cli import main as cli_main

        return cli_main(argv)
    except BaseException:
        if _stopped:  # the early SIGTERM, however Python wrapped it
            return 0
        raise
