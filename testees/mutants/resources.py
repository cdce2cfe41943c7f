"""Resource mutants: the reference echo server with one resource defence removed (group 30).

python -m testees.mutants.resources NAME [--port 0]   prints `listening on ws://127.0.0.1:PORT/`

Each reproduces a bug class behind real WebSocket advisories, in its own process, by patching
the reference there; everything else stays conformant. MUTANTS maps each name to (what it does,
the case aimed at it). The memory they take is real but bounded (at most 512 MiB), so that they
can run on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from typing import Any

from conformance.engine import connection as cx
from conformance.targets import echo_server as es
from conformance.wire import http
from conformance.wire.frames import Opcode
from testees.mutants.serve import serve_patched

_MIB = 1 << 20


def _wrap_check_header(extra: Callable[[cx.Connection, Any], None], *, unlimited: bool) -> None:
    original = cx.Connection._check_header

    def check(self: cx.Connection, h: Any) -> None:
        extra(self, h)
        if not unlimited:
            original(self, h)
            return
        saved, self.max_message = self.max_message, None  # no size limit on what is declared
        try:
            original(self, h)
        finally:
            self.max_message = saved

    cx.Connection._check_header = check  # type: ignore[method-assign]


def _allocates_declared_length() -> None:
    """Reserves a buffer of the declared length as soon as a header arrives (up to 512 MiB; past
    2^40 octets the allocation fails and the process aborts, as a C server's would)."""
    def reserve(conn: cx.Connection, h: Any) -> None:
        if h.opcode.is_control or not h.length:
            return
        if h.length > 1 << 40:
            os.abort()
        conn.__dict__.setdefault("_reserved", []).append(bytearray(min(h.length, 512 * _MIB)))

    _wrap_check_header(reserve, unlimited=True)


def _keeps_every_fragment() -> None:
    """Keeps a 4 KiB receive buffer for every continuation frame of a message until it ends."""
    def keep(conn: cx.Connection, h: Any) -> None:
        if h.opcode is Opcode.CONT:
            conn.__dict__.setdefault("_fragments", []).append(bytearray(4096))

    _wrap_check_header(keep, unlimited=False)
    # the engine reads runs of continuation frames without a header each (_parse_fragmented):
    # this implementation handles every frame on its own, so each one passes _check_header
    cx.Connection._parse_fragmented = lambda self, buf, pos, n: (pos, False)  # type: ignore[method-assign]


def _inflates_without_limit() -> None:
    """Checks the message limit on the compressed octets only: inflation is unbounded."""
    original = es.negotiated_codec

    def codec(params: Any, role: str, max_message: int | None, level: int = 1) -> Any:
        return original(params, role, None, level)

    es.negotiated_codec = codec  # type: ignore[assignment]


def _off_by_one_when_inflating() -> None:
    """Its inflating path lets one octet more through than its limit (`>` where `>=` was meant):
    an uncompressed message of limit + 1 is refused, a compressed one accepted."""
    original = es.negotiated_codec

    def codec(params: Any, role: str, max_message: int | None, level: int = 1) -> Any:
        return original(params, role, None if max_message is None else max_message + 1, level)

    es.negotiated_codec = codec  # type: ignore[assignment]


def _quadratic_headers() -> None:
    """No head limits, and a header parser that looks for an earlier header of the same name by
    comparing each line with every earlier one, case-insensitively (quadratic in the number of
    lines: about 4 s of CPU time for 10,000 headers)."""
    original = http.parse_request

    def parse(buf: bytes | bytearray, **_: Any) -> Any:
        got = original(buf, max_head=1 << 30, max_headers=1 << 30, max_line=1 << 30)
        if got is not None:
            names: list[bytes] = []
            for line in bytes(buf[: got[1]]).split(b"\r\n"):
                name = line.split(b":", 1)[0]
                for prev in names:
                    if prev.lower() == name.lower():
                        break
                names.append(name)
        return got

    es.parse_request = parse  # type: ignore[assignment]


def _crashes_on_many_headers() -> None:
    """Aborts (SIGABRT) on a request of more than 1,000 header lines, as a parser that overflows a
    fixed table of header slots does."""
    original = http.parse_request

    def parse(buf: bytes | bytearray, **_: Any) -> Any:
        if bytes(buf).count(b"\n") > 1000:
            os.abort()
        return original(buf, max_head=1 << 30, max_headers=1 << 30, max_line=1 << 30)

    es.parse_request = parse  # type: ignore[assignment]


def _no_handshake_timeout() -> None:
    """Waits for a handshake request for ever (the reference gives up after 5 s with 408)."""
    original = es.EchoServer.__init__

    def init(self: es.EchoServer, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        self.handshake_timeout = 1e9

    es.EchoServer.__init__ = init  # type: ignore[method-assign]


def _buffers_its_output() -> None:
    """Never waits for its writes to drain: it reads on while the peer reads nothing, and every echo
    and pong piles up in the transport's buffer (asyncio's is unbounded), as in a server that writes
    without honouring back-pressure."""
    async def drain(self: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0)

    asyncio.StreamWriter.drain = drain  # type: ignore[method-assign]


MUTANTS: dict[str, tuple[str, str, Callable[[], None]]] = {
    "allocates-declared-length": ("reserves the declared frame length before the payload arrives", "30.1.6",
                                  _allocates_declared_length),
    "aborts-on-huge-length": ("aborts on a declared length it cannot allocate (2^62)", "30.1.1",
                              _allocates_declared_length),
    "keeps-every-fragment": ("keeps a 4 KiB buffer per continuation frame", "30.2.1", _keeps_every_fragment),
    "inflates-without-limit": ("limits compressed octets, not inflated ones", "30.5.3", _inflates_without_limit),
    "checks-compressed-size": ("limits the compressed size of a message, not what it inflates to", "30.9.2",
                               _inflates_without_limit),
    "off-by-one-when-inflating": ("lets a compressed message of its limit + 1 through", "30.9.2",
                                  _off_by_one_when_inflating),
    "quadratic-headers": ("parses header lines in quadratic time, with no head limits", "30.7.2",
                          _quadratic_headers),
    "crashes-on-many-headers": ("aborts on more than 1,000 header lines", "30.7.2", _crashes_on_many_headers),
    "no-handshake-timeout": ("never gives up on a slow handshake", "30.7.13", _no_handshake_timeout),
    "buffers-its-output": ("writes without back-pressure, buffering what an unread peer is owed", "30.8.1",
                           _buffers_its_output),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("name", choices=sorted(MUTANTS))
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    MUTANTS[args.name][2]()
    serve_patched(args.port)


if __name__ == "__main__":
    main()
