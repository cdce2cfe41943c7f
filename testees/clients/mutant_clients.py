"""Mutant clients: each breaks one rule of the client catalogue (groups 20-22) and is otherwise
the reference client (an echo client on the engine, offering permessage-deflate with
client_max_window_bits as the reference does).

python -m testees.clients.mutant_clients KIND URL AGENT   (bad_clients.py KIND ... runs them too)

A lax mutant skips one check and carries on (so it keeps a connection open that it had to fail,
or echoes what it had to refuse); a strict one refuses something valid; the others misbehave
on the wire. CATCHES says which cases must catch each mutant (tests/testees/test_client_mutants.py).
"""

from __future__ import annotations

__all__ = ["CATCHES", "KINDS", "main", "run"]

import base64
import contextlib
import hashlib
import os
import socket
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

from conformance.engine import deflate as d
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.rules import ProtocolError
from conformance.wire.extheader import parse_extensions
from conformance.wire.frames import FrameHeader, Opcode
from conformance.wire.http import Headers, Response, parse_response

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OFFER = "permessage-deflate; client_max_window_bits"

# mutant -> the case IDs (shell patterns) that must give it a non-OK verdict
CATCHES: dict[str, tuple[str, ...]] = {
    "lax-accept": ("20.1.1", "20.1.2", "20.3.*"),
    "lax-status": ("20.1.5", "20.1.6", "20.4.*"),
    "lax-upgrade": ("20.1.3", "20.5.[1-4]"),
    "lax-connection": ("20.1.4", "20.5.[5-8]"),
    "lax-subprotocol": ("20.1.8", "20.6.*"),
    "lax-extensions": ("20.1.7", "20.7.[12]"),
    "lax-deflate": ("20.1.9", "20.7.[3-9]", "20.7.1[0-9]"),
    "linger": ("20.1.1", "20.4.1"),
    "strict-upgrade": ("20.8.1",),
    "strict-connection": ("20.8.2", "20.8.3"),
    "strict-names": ("20.8.4",),
    "strict-reason": ("20.8.5",),
    "one-read": ("20.8.6",),
    "drop-glued": ("20.8.7", "20.8.8"),
    "strict-deflate": ("20.8.9",),
    "ignore-window": ("20.8.10",),
    "keep-context": ("20.8.11",),
    "no-echo": ("20.2.1",),
    "no-pong": ("20.2.5", "21.6.1"),
    "pong-budget": ("21.6.1",),
    "mute-close": ("20.2.4", "22.2.*"),
    "lax-masked": ("20.2.2", "21.1.[1-3]"),
    "lax-rsv": ("21.1.[4-7]",),
    "lax-opcode": ("21.1.[89]", "21.1.1[0-7]"),
    "lax-control-length": ("21.2.[1-3]",),
    "lax-control-fin": ("21.2.[4-6]",),
    "lax-compressed-control": ("21.2.7",),
    "lax-sequence": ("21.3.*",),
    "lax-utf8": ("21.4.*",),
    "utf8-late": ("21.4.[12]",),
    "lax-length-msb": ("21.5.1",),
    "strict-length": ("21.5.[23]",),
    "lax-close-code": ("20.2.3", "22.1.*"),
    "close-narrow": ("22.2.[6-9]",),
    "lax-close-payload": ("22.3.1",),
    "lax-close-reason": ("22.3.[2-4]",),
    "echo-after-close": ("22.4.1",),
    "close-tcp-at-once": ("22.5.1",),
    # run with {authurl} (user info, so Basic credentials): both follow a redirect to another origin
    "follow-same-key": ("20.4.2[2-4]", "20.4.2[67]"),
    "follow-resend-auth": ("20.4.2[2-4]", "20.4.2[67]"),
}
KINDS = tuple(CATCHES)

# the engine rules a frame-level mutant ignores
_IGNORED: dict[str, frozenset[str]] = {
    "lax-masked": frozenset({"frame.server-masked"}),
    "lax-rsv": frozenset({"frame.rsv-unnegotiated"}),
    "lax-opcode": frozenset({"frame.opcode-reserved"}),
    "lax-control-length": frozenset({"frame.control-too-long"}),
    "lax-control-fin": frozenset({"frame.control-fragmented"}),
    "lax-sequence": frozenset({"frame.continuation-unexpected", "frame.data-inside-message"}),
    "lax-length-msb": frozenset({"frame.length-msb"}),
    "lax-compressed-control": frozenset({"deflate.rsv1-control"}),
}


class _Sloppy(Connection):
    """The engine with some header rules ignored, UTF-8 unchecked or close frames taken as they come."""

    def __init__(self, kind: str, **kw: Any) -> None:
        super().__init__(Role.CLIENT, **kw)
        self.kind = kind
        self.ignored = _IGNORED.get(kind, frozenset())

    def _check_header(self, h: FrameHeader) -> None:
        try:
            super()._check_header(h)
        except ProtocolError as exc:
            if exc.rule.id not in self.ignored:
                raise

    def _on_frame(self, h: FrameHeader, payload: bytes) -> None:
        if self.kind == "lax-control-fin" and h.opcode.is_control and not h.fin:
            return  # a fragmented control frame: silently dropped
        if self.kind == "lax-sequence" and h.opcode is Opcode.CONT and self._msg_opcode is None:
            self._events.append(ev.Message(Opcode.TEXT, payload, payload.decode("utf-8", "replace"), False, self._at))
            return
        if self.kind == "lax-sequence" and self._msg_opcode is not None and h.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._reset_message()
        if h.opcode.is_reserved:
            self._events.append(ev.Message(Opcode.BINARY, payload, None, False, self._at))
            return
        if self.kind == "lax-compressed-control" and h.opcode.is_control and h.rsv1 and self.deflate is not None:
            payload = self.deflate.decode(payload, True)
        super()._on_frame(h, payload)

    def _on_data(self, op: Opcode, payload: bytes, fin: bool, *, first: bool) -> None:
        if self.kind == "lax-utf8" and op is Opcode.TEXT:
            op = Opcode.BINARY  # text taken as octets, never validated
        super()._on_data(op, payload, fin, first=first)

    def _add_part(self, op: Opcode, payload: bytes, fin: bool, *, first: bool) -> None:
        if self.kind == "lax-utf8" and op is Opcode.TEXT:
            op = Opcode.BINARY  # a fragmented message's parts, read in runs, go here directly
        super()._add_part(op, payload, fin, first=first)

    def _look_ahead(self, h: FrameHeader, buf: bytearray, start: int, n: int) -> None:
        if self.kind != "lax-utf8":
            super()._look_ahead(h, buf, start, n)

    def _deliver_whole(self, op: Opcode, payload: bytes) -> None:
        if self.kind == "lax-utf8" and op is Opcode.TEXT:
            op = Opcode.BINARY
        super()._deliver_whole(op, payload)

    def _on_close(self, payload: bytes) -> None:
        if self.kind in ("lax-close-code", "lax-close-payload", "lax-close-reason"):
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self.close_received = ev.CloseReceived(code, payload[2:].decode("utf-8", "replace"), self._at)
            self._events.append(self.close_received)
            self.close(code if code is not None and self.kind == "lax-close-code" else 1000, "")
            return
        super()._on_close(payload)


# -- handshake -------------------------------------------------------------------------------

def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")


def _tokens(h: Headers, name: str) -> list[str]:
    return [t.strip().lower() for v in h.get_all(name) for t in v.split(",") if t.strip()]


def _refuses(kind: str, resp: Response, raw_head: bytes, key: str) -> bool:
    """Whether this mutant refuses `resp` (the reference's checks, one bent or skipped)."""
    h = resp.headers
    if kind != "lax-status" and resp.status != 101:
        return True
    if kind == "strict-reason" and resp.reason != "Switching Protocols":
        return True
    if kind == "strict-names" and any(name not in raw_head for name in (b"Upgrade:", b"Connection:")):
        return True
    if kind == "strict-upgrade" and h.get_all("Upgrade") != ["websocket"]:
        return True
    if kind == "strict-connection" and h.get_all("Connection") != ["Upgrade"]:
        return True
    if kind != "lax-upgrade" and "websocket" not in _tokens(h, "Upgrade"):
        return True
    if kind != "lax-connection" and "upgrade" not in _tokens(h, "Connection"):
        return True
    if kind != "lax-accept" and h.get_all("Sec-WebSocket-Accept") != [_accept(key)]:
        return True
    return kind != "lax-subprotocol" and bool(h.get_all("Sec-WebSocket-Protocol"))  # we offered none


def _extensions(kind: str, resp: Response) -> tuple[bool, d.DeflateCodec | None]:
    """(refused, the codec agreed)."""
    try:
        answered = parse_extensions(resp.headers.get_all("Sec-WebSocket-Extensions"))
    except Exception:  # a malformed header: the lax ones carry on without it
        return kind not in ("lax-extensions", "lax-deflate"), None
    codec = None
    for name, answer in answered:
        params = list(answer)
        if name.lower() != "permessage-deflate":
            if kind != "lax-extensions":
                return True, None
            continue
        if kind == "strict-deflate" and any(k == "server_max_window_bits" for k, _ in params):
            return True, None
        dropped = {"ignore-window": "client_max_window_bits", "keep-context": "client_no_context_takeover"}.get(kind)
        params = [(k, v) for k, v in params if k != dropped]
        try:
            agreed = d.client_accept(params, [d.parse_offer([("client_max_window_bits", None)])])
        except ProtocolError:
            if kind != "lax-deflate":
                return True, None
            continue
        codec = d.negotiated_codec(agreed, "client", None)
    return False, codec


def _read_head(kind: str, s: socket.socket) -> tuple[Response, bytes, bytes] | None:
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
        parsed = parse_response(buf)
        if parsed is not None and kind == "lax-status" and 100 <= parsed[0].status < 200 and parsed[0].status != 101:
            buf = buf[parsed[1]:]  # an interim answer skipped; the final one is then taken whatever its status
            parsed = parse_response(buf) if buf else None
            if parsed is None:
                continue
        if parsed is not None:
            resp, used = parsed
            rest = b"" if kind == "drop-glued" else buf[used:]
            return resp, buf[:used], rest
        if kind == "one-read":
            return None  # assumes the whole answer comes in one read


def _basic(u: urllib.parse.SplitResult) -> str:
    """An Authorization header line from the URL's user info (empty without one)."""
    if u.username is None:
        return ""
    pair = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
    return f"Authorization: Basic {base64.b64encode(pair.encode()).decode('ascii')}\r\n"


def _connect(url: str, path: str, key: str | None = None, auth: str | None = None) -> tuple[socket.socket, str]:
    """Send the opening handshake; `key` and `auth` (an Authorization line) reused by a follower."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port))
    key = key or base64.b64encode(os.urandom(16)).decode("ascii")
    auth = _basic(u) if auth is None else auth
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
              f"{auth}Sec-WebSocket-Extensions: {_OFFER}\r\n\r\n".encode())
    return s, key


def _follow(kind: str, url: str, resp: Response, key: str) -> None:
    """follow-*: a 3xx with a Location is followed with one more handshake there (keeping the
    first request's Authorization, and for follow-same-key its key too); its answer is not read."""
    location = resp.headers.get("Location") if 300 <= resp.status < 400 else None
    if not kind.startswith("follow-") or not location:
        return
    target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
    auth = _basic(urllib.parse.urlsplit(url))
    s, _ = _connect(f"ws://{target.netloc}", target.path or "/", key if kind == "follow-same-key" else None, auth)
    with s:
        s.settimeout(5)
        with contextlib.suppress(OSError):
            s.recv(65536)


def _open(kind: str, url: str, path: str) -> tuple[socket.socket, Connection] | None:
    """Connect; None when the mutant refused the answer (and closed, unless it lingers)."""
    s, key = _connect(url, path)
    got = _read_head(kind, s)
    refused = got is None
    codec = None
    if got is not None:
        resp, head, rest = got
        refused = _refuses(kind, resp, head, key)
        if not refused:
            refused, codec = _extensions(kind, resp)
    if refused:
        if got is not None:
            _follow(kind, url, got[0], key)
        if kind == "linger":
            s.settimeout(5)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
        s.close()
        return None
    conn = _Sloppy(kind, deflate=codec, utf8_fail_fast=kind != "utf8-late", reject_non_minimal=kind == "strict-length",
                   auto_pong=kind not in ("no-pong", "pong-budget"))
    if rest:
        conn.receive_data(rest)
    return s, conn


# -- the conversation ------------------------------------------------------------------------

def _events(conn: Connection) -> Iterator[ev.Event]:
    try:
        yield from conn.events()
    except ProtocolError:
        return


def _echo(conn: Connection, e: ev.Message) -> None:
    text = e.opcode is Opcode.TEXT and e.text is not None
    if conn.close_sent is not None:  # echo-after-close: a frame the engine would refuse to send
        conn._emit_frame(Opcode.TEXT if text else Opcode.BINARY, e.data)
    else:
        conn.send_message(e.text if text and e.text is not None else e.data, text=text)


def _converse(kind: str, s: socket.socket, conn: Connection) -> None:
    pings = 0
    closing = False
    late: list[ev.Message] = []  # echo-after-close: echoes held back until the close reply is out
    while True:
        for e in _events(conn):
            if isinstance(e, ev.Message) and conn.state is State.OPEN and kind != "no-echo":
                if kind == "echo-after-close":
                    late.append(e)
                else:
                    _echo(conn, e)
            elif isinstance(e, ev.Ping) and kind == "pong-budget" and pings < 10 and conn.state is State.OPEN:
                pings += 1
                conn.pong(e.data)
            elif isinstance(e, ev.CloseReceived):
                closing = True
                code = e.code
                if kind == "mute-close":
                    conn._out.clear()
                    conn.close_sent = (1000, "")
                if kind == "close-narrow" and code is not None and not 1000 <= code <= 1011:
                    return  # drop TCP, no close frame
                for m in late:
                    _echo(conn, m)
                late.clear()
        out = conn.data_to_send()
        if out:
            s.sendall(out)
        if conn.state is State.CLOSED and (not closing or kind == "close-tcp-at-once"):
            return  # close-tcp-at-once: TCP closed with the close reply, without waiting for the server's
        data = s.recv(65536)
        if not data:
            return
        conn.receive_data(data)


def _case_count(url: str) -> int:
    opened = _open("reference", url, "/getCaseCount")
    assert opened is not None, "the suite refused /getCaseCount"
    s, conn = opened
    with s:
        while True:
            for e in _events(conn):
                if isinstance(e, ev.Message):
                    return int(e.data)
            conn.receive_data(s.recv(65536))


def run(kind: str, url: str, agent: str) -> None:
    """Every case the suite offers, as mutant `kind`."""
    if kind not in CATCHES:
        raise SystemExit(f"unknown mutant {kind!r}; known: {', '.join(KINDS)}")
    base = url.rstrip("/")
    for n in range(1, _case_count(base) + 1):
        try:
            opened = _open(kind, base, f"/runCase?case={n}&agent={agent}")
            if opened is None:
                continue
            s, conn = opened
            with s:
                s.settimeout(30)
                _converse(kind, s, conn)
        except OSError:
            continue
    try:
        opened = _open("reference", base, f"/updateReports?agent={agent}")
        if opened is not None:
            opened[0].close()
    except OSError:
        pass


def main() -> None:
    kind, url, agent = sys.argv[1:4]
    run(kind, url, agent)


if __name__ == "__main__":
    main()
