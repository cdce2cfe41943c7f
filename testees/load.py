"""CPU load for stability tests: N busy-loop processes that are gone when the block ends.

    with cpu_load(2):
        ...  # both cores are busy here

Each busy process says it is running before the block starts (so the load is real when the code
under test runs, not still starting), and it is killed when the block ends, however it ends. A busy
process also stops by itself once its parent is gone, so a killed test run leaves none behind.
"""

from __future__ import annotations

__all__ = ["cpu_load", "cores"]

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

# Spins; every few million iterations checks that the parent still exists, and exits if not.
_BUSY = """\
import os, sys
parent = os.getppid()
sys.stdout.write("busy\\n"); sys.stdout.flush()
while os.getppid() == parent:
    for _ in range(2_000_000):
        pass
"""


def cores() -> int:
    """Cores this process may run on (the load that keeps all of them busy)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _start_busy() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _BUSY], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline() != "busy\n":
        proc.kill()
        proc.wait()
        raise RuntimeError("a busy-loop process did not start; no CPU load could be made")
    return proc


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def cpu_load(n: int | None = None) -> Iterator[list[int]]:
    """Keep `n` cores busy (default: all of this process's) for the block; yields the busy PIDs."""
    count = cores() if n is None else n
    if count < 0:
        raise ValueError(f"cpu_load needs 0 or more processes, not {count}")
    procs: list[subprocess.Popen[str]] = []
    try:
        for _ in range(count):
            procs.append(_start_busy())
        yield [p.pid for p in procs]
    finally:
        _stop(procs)
