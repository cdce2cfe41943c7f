"""A test server: the reference HTTP/3 echo server (RFC 9220), except that its process exits with
status 70 once a WebSocket stream that carried a binary message is over (the client's FIN after the
closing handshake), as hypercorn's QUIC loop dies of the FIN after any close. Its death takes a
moment (its loop stops, and the process ends DYING_SECONDS later, as a crash that writes a core
dump does), so a watch that only looks at the process right after the case misses it. Text-only
streams leave it running, so a watched run can tell which case killed it.

python -m tests.targets.h3_dying_server --port PORT     (a self-signed certificate: --insecure)
"""

from __future__ import annotations

__all__ = ["DIED", "DYING_SECONDS", "main"]

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.targets import h2_server as hs
from conformance.targets.h2 import H2Link, H2Stream
from conformance.targets.h3 import self_signed_certificate, serve_h3
from conformance.targets.h3_server import H3EchoServer
from conformance.wire.frames import Opcode

DIED = 70
DYING_SECONDS = 1.5


class _Noting(Connection):
    """The engine's server connection, noting whether a binary message came."""

    binary = False

    def events(self) -> Iterator[ev.Event]:
        for e in super().events():
            self.binary |= isinstance(e, ev.Message) and e.opcode is Opcode.BINARY
            yield e


class _DiesAfterBinary(H3EchoServer):
    async def _serve_stream(self, link: H2Link, stream: H2Stream) -> None:
        status, _why = hs.check_connect(stream.headers)
        if status:
            await super()._serve_stream(link, stream)
            return
        link.respond(stream, [(b":status", b"200")])
        conn = _Noting(Role.SERVER)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await hs._echo_loop(conn, stream)  # returns once the client has ended its stream
        if conn.binary:
            time.sleep(DYING_SECONDS)  # the whole loop stops: no new connection is answered
            os._exit(DIED)


async def _serve(port: int) -> None:
    cert, key = self_signed_certificate()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_h3("127.0.0.1", port, cert, key, _DiesAfterBinary().handle_link, ready=ready))
    print(f"listening on https://127.0.0.1:{await ready}/", flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
