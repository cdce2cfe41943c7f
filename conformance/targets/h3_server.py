"""The reference echo server over HTTP/3 (RFC 9220): `conformance echo-server --http3`.

The HTTP/2 reference (conformance/targets/h2_server.py) serves each request stream; over HTTP/3
the same code runs on an H3Link: it advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 9220 §3),
checks the extended CONNECT as over HTTP/2 (a malformed request is a stream error of type
H3_MESSAGE_ERROR, RFC 9114 §4.1.2; aioquic itself closes the connection with that code for the
malformations it detects, which RFC 9114 §8 allows), answers `:status 200` and echoes with the
engine. After the closing handshake it ends its stream with FIN.
"""

from __future__ import annotations

__all__ = ["H3EchoServer", "serve_h3_echo"]

import asyncio

import aioquic.h3.connection as h3c

from conformance.targets.h2_server import H2EchoServer
from conformance.targets.h3 import H3Link, self_signed_certificate, serve_h3


class H3EchoServer(H2EchoServer):
    """Echoes every message on every WebSocket stream of each HTTP/3 connection."""

    malformed_code = int(h3c.ErrorCode.H3_MESSAGE_ERROR)

    async def handle_link(self, link: H3Link) -> None:
        self.connections += 1
        try:
            await self.serve_streams(link)  # type: ignore[arg-type]  # the H2Link interface
        finally:
            link.close_soon()


async def serve_h3_echo(host: str, port: int, *, cert: str | None = None, key: str | None = None,
                        deflate: bool = False, ready: asyncio.Future[int] | None = None) -> None:
    """Serve until cancelled; without `cert`, a self-signed certificate made now."""
    if cert is None or key is None:
        cert, key = self_signed_certificate()
    server = H3EchoServer(deflate=deflate)
    await serve_h3(host, port, cert, key, server.handle_link, ready=ready)
