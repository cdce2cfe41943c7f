"""Testee clients that misbehave: python tests/clients/bad_clients.py KIND URL AGENT.

hang       connects to the first case and then never reads or writes
crash      runs two cases, then exits with status 3
never      never connects at all (sleeps)
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.parse


def connect_raw(url: str, path: str) -> socket.socket:
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    return s


def main() -> None:
    kind, url, agent = sys.argv[1:4]
    if kind == "never":
        time.sleep(3600)
    elif kind == "hang":
        s = connect_raw(url, f"/runCase?case=1&agent={agent}")
        time.sleep(3600)
        s.close()
    elif kind == "crash":
        for n in (1, 2):
            s = connect_raw(url, f"/runCase?case={n}&agent={agent}")
            time.sleep(0.2)
            s.close()
        sys.exit(3)


if __name__ == "__main__":
    main()
