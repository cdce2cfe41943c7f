"""nghttpx (nghttp2's proxy) in front of the reference HTTP/1.1 echo server: WebSocket over HTTP/2
on the front (RFC 8441 extended CONNECT, h2c with prior knowledge), the HTTP/1.1 upgrade behind.

python -m testees.peers.nghttpx_proxy [--port 0]
Prints `listening on http://127.0.0.1:PORT/` once nghttpx accepts connections; stops both on SIGTERM.
Needs the nghttpx command (Debian's nghttp2-proxy).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time

_START = 20.0  # upper bound for nghttpx to accept connections


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    exe = shutil.which("nghttpx")
    if exe is None:
        print("nghttpx_proxy: the nghttpx command is missing (apt-get install nghttp2-proxy)", file=sys.stderr)
        return 3
    backend = subprocess.Popen([sys.executable, "-m", "conformance", "echo-server", "--port", "0", "--deflate"],
                               stdout=subprocess.PIPE, text=True)
    assert backend.stdout is not None
    bport = backend.stdout.readline().split()[-1].rstrip("/").rsplit(":", 1)[-1]
    port = args.port or _free_port()
    proxy = subprocess.Popen([exe, "--conf=/dev/null", f"--frontend=127.0.0.1,{port};no-tls",
                              f"--backend=127.0.0.1,{bport}", "--workers=1", "--accesslog-file=/dev/null",
                              "--errorlog-file=/dev/stderr", "--log-level=WARN"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        deadline = time.monotonic() + _START
        while not _accepting(port):
            if proxy.poll() is not None or time.monotonic() > deadline:
                print("nghttpx_proxy: nghttpx did not start", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
