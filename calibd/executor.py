"""The worker process pool where handlers run CPU-heavy algorithms, off the event loop."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import select
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from calibd.errors import RetriableError

__all__ = ["CpuPool", "configure_worker", "exit_with"]


def configure_worker(daemon_pid: int | None = None) -> None:
    """Initialiser of each worker: offline astropy, SIGINT/SIGTERM left to the parent, and
    exit when the daemon `daemon_pid` dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if daemon_pid is not None:
        exit_with(daemon_pid)
    from calibd.offline import configure_offline_astropy

    configure_offline_astropy()


def exit_with(pid: int) -> None:
    """End this worker as soon as process `pid` ends, even by SIGKILL.

    A worker's parent is the forkserver, not calibd, so it would go on computing for a dead
    daemon (nothing of it can be committed) and then wait on its queue for ever. A pidfd (no
    confusion with a reused pid) is watched by a daemon thread. Without pidfds (not Linux),
    the service manager's kill of the whole control group remains the guard.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(70)  # the daemon is gone already
    except (AttributeError, OSError):
        return

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(70)

    threading.Thread(target=watch, name="calibd-daemon-watch", daemon=True).start()


class CpuPool:
    """A lazily started ProcessPoolExecutor (forkserver: no fork of the threaded parent).

    A crashed worker breaks the pool; the pool is replaced and the call raises
    RetriableError so the pipeline tries the message again.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = (
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            )
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=configure_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        pool = self._ensure()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise RetriableError("a worker process died during the computation") from None

    def terminate(self) -> None:
        """Kill the workers now (a stop past its deadline); running computations are lost."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
