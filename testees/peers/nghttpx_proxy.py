"""nghttpx (nghttp2's proxy) in front of the reference HTTP/1.1 echo server: WebSocket over HTTP/2
on the front (RFC 8441 extended CONNECT, h2c with prior knowledge), the HTTP/1.1 upgrade behind.

python -m testees.peers.nghttpx_proxy [--port 0]
Prints `listening on http://127.0.0.1:PORT/` once nghttpx accepts connections; stops both on SIGTERM.
Needs the nghttpx command (Debian's nghttp2-proxy).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from testees.peers.front import free_port, serve_front, start_backend


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    exe = shutil.which("nghttpx")
    if exe is None:
        print("nghttpx_proxy: the nghttpx command is missing (apt-get install nghttp2-proxy)", file=sys.stderr)
        return 3
    backend, bport = start_backend()
    port = args.port or free_port()
    proxy = subprocess.Popen([exe, "--conf=/dev/null", f"--frontend=127.0.0.1,{port};no-tls",
                              f"--backend=127.0.0.1,{bport}", "--workers=1", "--accesslog-file=/dev/null",
                              "--errorlog-file=/dev/stderr", "--log-level=WARN"])
    return serve_front(proxy, backend, port, lambda: "nghttpx_proxy: nghttpx did not start")


if __name__ == "__main__":
    sys.exit(main())
