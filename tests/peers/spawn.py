"""Start a peer process that prints `listening on URL`, and stop it afterwards."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def spawn_server(argv: Sequence[str], timeout: float = 20.0, *,
                 program: str | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run `python argv...` (or `program argv...`); yield (url, process) once it printed its URL."""
    proc = subprocess.Popen([program or sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{argv} did not start: {line!r} {err[-2000:]}")
        yield line.split()[-1], proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
