"""What the HTTP/2 front ends in front of the reference HTTP/1.1 echo server share (nghttpx_proxy.py,
apache_h2.py): the back end started on a free port, the front end watched until it accepts, the
announcement line, and both stopped together."""

from __future__ import annotations

__all__ = ["free_port", "serve_front", "start_backend"]

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

START = 20.0  # upper bound for a front end to accept connections


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_backend() -> tuple[subprocess.Popen[str], int]:
    """The reference HTTP/1.1 echo server (with permessage-deflate) and the port it announced."""
    backend = subprocess.Popen([sys.executable, "-m", "conformance", "echo-server", "--port", "0", "--deflate"],
                               stdout=subprocess.PIPE, text=True)
    assert backend.stdout is not None
    return backend, int(backend.stdout.readline().split()[-1].rstrip("/").rsplit(":", 1)[-1])


def serve_front(proxy: subprocess.Popen[bytes], backend: subprocess.Popen[str], port: int,
                failure: Callable[[], str]) -> int:
    """Wait for the front end on `port`, announce it, run until it ends or SIGTERM; stop both.
    Exit 3 with `failure()` on stderr when it exits or does not accept within START seconds."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        deadline = time.monotonic() + START
        while not _accepting(port):
            if proxy.poll() is not None or time.monotonic() > deadline:
                print(failure(), file=sys.stderr)
                return 3
            time.sleep(0.05)
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        proxy.wait()
        return 0
    finally:
        for proc in (proxy, backend):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
