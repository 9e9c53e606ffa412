"""A worker process does not outlive calibd: SIGKILL the process that owns the pool in the
middle of a long computation, and the worker ends within seconds (it would otherwise compute
on for a dead daemon, then wait on its queue for ever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

OWNER = textwrap.dedent(
    """
    import asyncio, sys, time
    from calibd.executor import CpuPool

    async def main():
        pool = CpuPool(1)
        job = asyncio.ensure_future(pool.run(time.sleep, 120))
        while not pool._pool or not pool._pool._processes:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the worker has started computing
        print(*pool._pool._processes, flush=True)
        await job

    asyncio.run(main())
    """
)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_worker_ends_when_its_daemon_is_killed():
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = owner.stdout.readline()  # type: ignore[union-attr]
        (worker,) = (int(p) for p in line.split())
        assert alive(worker)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), "the worker outlived its daemon"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
