"""Apache httpd (mod_http2 with `H2WebSockets on`) in front of the reference HTTP/1.1 echo server:
WebSocket over HTTP/2 on the front (RFC 8441 extended CONNECT, h2c with prior knowledge), handed
to mod_proxy_http's WebSocket upgrade behind.

python -m testees.peers.apache_h2 [--port 0]
Prints `listening on http://127.0.0.1:PORT/` once httpd accepts connections; stops both on SIGTERM.
Needs the apache2 command (Debian's apache2, `make h2-deps`). The configuration is generated in a
temporary directory (no system-wide file is read or written); httpd listens on loopback only.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from testees.peers.front import free_port, serve_front, start_backend

_MODULES = Path("/usr/lib/apache2/modules")
_LOAD = ["mpm_event", "authz_core", "http2", "proxy", "proxy_http"]


def config(port: int, backend: int, tmp: Path) -> str:
    """httpd.conf: h2c on 127.0.0.1:port, every path proxied to the backend with its WebSocket upgrade."""
    lines = [f"LoadModule {m}_module {_MODULES}/mod_{m}.so" for m in _LOAD]
    if os.geteuid() == 0:  # httpd refuses to serve as root: its children take an unprivileged user
        user = "nobody" if _has_user("nobody") else "daemon"
        lines += [f"User {user}", "Group nogroup" if user == "nobody" else f"Group {user}"]
    lines += [
        "ServerName 127.0.0.1", f"ServerRoot {tmp}", f"Listen 127.0.0.1:{port}", f"PidFile {tmp}/httpd.pid",
        f"ErrorLog {tmp}/error.log", "LogLevel warn", f"DefaultRuntimeDir {tmp}", "Mutex file:" + str(tmp),
        "StartServers 1", "ServerLimit 1", "ThreadsPerChild 64", "MaxRequestWorkers 64",
        "Protocols h2c http/1.1", "H2Direct on", "H2WebSockets on", "Timeout 30",
        f"ProxyPass / http://127.0.0.1:{backend}/ upgrade=websocket",
    ]
    return "\n".join(lines) + "\n"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    exe = shutil.which("apache2") or (shutil.which("apache2", path="/usr/sbin:/usr/local/sbin"))
    if exe is None:
        print("apache_h2: the apache2 command is missing (apt-get install apache2)", file=sys.stderr)
        return 3
    backend, bport = start_backend()
    port = args.port or free_port()
    with tempfile.TemporaryDirectory(prefix="apache-h2-") as tmp:
        os.chmod(tmp, 0o755)  # the children, as `nobody`, reach the mutex files
        conf = Path(tmp) / "httpd.conf"
        conf.write_text(config(port, bport, Path(tmp)))
        proxy = subprocess.Popen([exe, "-d", tmp, "-f", str(conf), "-DFOREGROUND"], stdout=sys.stderr)

        def failure() -> str:
            log = Path(tmp) / "error.log"
            return f"apache_h2: httpd did not start: {log.read_text()[-500:] if log.exists() else ''}"

        return serve_front(proxy, backend, port, failure)


if __name__ == "__main__":
    sys.exit(main())
