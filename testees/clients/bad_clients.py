"""Testee clients that misbehave: python testees/clients/bad_clients.py KIND URL AGENT.

hang       connects to the first case and then never reads or writes
crash      runs two cases, then exits with status 3
never      never connects at all (sleeps)
eager      runs every case, echoes, answers the server's close and closes TCP in the same breath
           (a SHOULD at most: §7.1.1 asks the client to wait for the server's FIN)
drop       runs every case and closes TCP without a close frame as soon as the server sends a frame
mute       runs every case, reads everything, sends nothing, and closes only when the server has
KIND       any mutant of testees/clients/mutant_clients.py (one broken rule of the client catalogue)
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.parse
from pathlib import Path

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State


def connect_raw(url: str, path: str) -> socket.socket:
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    return s


def open_ws(url: str, path: str) -> tuple[socket.socket, Connection]:
    """A raw connection past the handshake response; the octets after it go to the engine."""
    s = connect_raw(url, path)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buf += chunk
    conn = Connection(Role.CLIENT)
    rest = buf.split(b"\r\n\r\n", 1)[1]
    if rest:
        conn.receive_data(rest)
    return s, conn


def case_count(url: str) -> int:
    s, conn = open_ws(url, "/getCaseCount")
    with s:
        while True:
            for e in conn.events():
                if isinstance(e, ev.Message):
                    return int(e.data)
            conn.receive_data(s.recv(65536))


def run_case(kind: str, s: socket.socket, conn: Connection) -> None:
    while True:
        for e in conn.events():
            if kind == "drop":
                return
            if kind == "eager" and isinstance(e, ev.Message) and conn.state is State.OPEN:
                conn.send_message(e.data, text=e.text is not None)
        if kind == "eager":
            s.sendall(conn.data_to_send())
            if conn.state is State.CLOSED:
                return  # our close reply is out: close TCP now, without waiting for the server's FIN
        data = s.recv(65536)
        if not data:
            return
        conn.receive_data(data)


def main() -> None:
    kind, url, agent = sys.argv[1:4]
    if kind not in ("never", "hang", "crash", "eager", "drop", "mute"):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repo root
        from testees.clients.mutant_clients import run as run_mutant

        run_mutant(kind, url, agent)
    elif kind == "never":
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
    elif kind in ("eager", "drop", "mute"):
        for n in range(1, case_count(url) + 1):
            s, conn = open_ws(url, f"/runCase?case={n}&agent={agent}")
            with s:
                run_case(kind, s, conn)


if __name__ == "__main__":
    main()
