"""Start a testee process (`python -m testees...`) that prints `listening on URL`, and stop it afterwards."""

from __future__ import annotations

__all__ = ["spawn_server"]

import contextlib
import sys
from collections.abc import Iterator, Sequence
from subprocess import Popen

from conformance.targets.process import announced_server


@contextlib.contextmanager
def spawn_server(argv: Sequence[str], timeout: float = 20.0, *,
                 program: str | None = None) -> Iterator[tuple[str, Popen[str]]]:
    """Run `python argv...` (or `program argv...`); yield (url, process) once it printed its URL."""
    with announced_server([program or sys.executable, *argv]) as started:
        yield started
