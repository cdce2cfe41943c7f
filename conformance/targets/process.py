"""Server processes the suite starts: run a command that announces `listening on URL`, stop it after.

The testees (testees/peers, testees/mutants, testees/hostile) and the benchmarks print that line
once they accept connections; this is how a run or a test gets their URL without guessing a port.
"""

from __future__ import annotations

__all__ = ["announced_server"]

import contextlib
import subprocess
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def announced_server(argv: Sequence[str], *, cwd: str | None = None,
                     stop_timeout: float = 5.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `argv`; yield (url, process) once it printed `listening on URL`; terminate it on exit.

    Raises RuntimeError with the process's last output when its first line is not the announcement
    (it failed to start), so the caller can show why.
    """
    proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{' '.join(argv)} did not start: {line!r} {err[-2000:]}")
        yield line.split()[-1], proc
    finally:
        proc.terminate()
        try:
            proc.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
