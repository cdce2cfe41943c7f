"""hypercorn serving an ASGI WebSocket echo over HTTP/2 (RFC 8441) and HTTP/1.1 on one port.

python -m testees.peers.hypercorn_server [--port 0] [--quic]
Prints `listening on http://127.0.0.1:PORT/` once it accepts connections: `run --http2 --server
URL` reaches it over HTTP/2 with prior knowledge, `--server ws://...` over HTTP/1.1.
With --quic it serves HTTP/3 (RFC 9220, through aioquic) on UDP PORT and TLS on a TCP port beside
it, with a self-signed certificate made now, and prints `listening on https://127.0.0.1:PORT/`
(`run --http3 --insecure --server URL`).

hypercorn 0.18.0's QUIC loop ends for good when one connection's handler raises (a KeyError for a
stream it has already forgotten, after any normal close: docs/findings.md), while the process and
its TLS port live on, so the server no longer answers HTTP/3 at all. With --quic this launcher makes
that death visible: it writes the traceback to stderr and exits with status 70, so that a watching
suite (`run --server-cmd ... --http3`) reports it on the case and starts the server again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import traceback
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo each message back with its type."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"websocket only\n"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})


def _socket(kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    sock.set_inheritable(True)
    return sock


QUIC_LOOP_DIED = 70  # EX_SOFTWARE: hypercorn's HTTP/3 service ended while the process lived on


def _innermost(exc: BaseException) -> str:
    """`KeyError: 0 at hypercorn/protocol/h3.py:64`: the first exception inside the task groups, and
    the line of hypercorn's that raised it (the last line of a watched server's stderr)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in reversed(frames)), "?")
    return f"{type(exc).__name__}: {exc} at {where}"


def _exit_when_quic_loop_ends() -> None:
    """Wrap hypercorn's UDP server loop: when it raises, print the traceback and end the process."""
    from hypercorn.asyncio.udp_server import UDPServer

    run = UDPServer.run

    async def watched_run(self: UDPServer) -> None:
        try:
            await run(self)
        except Exception as exc:  # a shutdown cancels it (no Exception); anything else is a death
            traceback.print_exception(exc, file=sys.stderr)
            print(f"hypercorn's QUIC loop ended: {_innermost(exc)}", file=sys.stderr, flush=True)
            os._exit(QUIC_LOOP_DIED)

    UDPServer.run = watched_run  # type: ignore[method-assign]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--quic", action="store_true", help="HTTP/3 on UDP PORT (TLS over TCP beside it)")
    args = p.parse_args()
    config = Config()
    config.websocket_max_message_size = 64 * 1024 * 1024
    config.accesslog = None
    config.errorlog = None
    if args.quic:  # hypercorn serves QUIC only beside TLS
        from conformance.targets.h3 import self_signed_certificate

        _exit_when_quic_loop_ends()
        config.certfile, config.keyfile = self_signed_certificate()
        udp, tls = _socket(socket.SOCK_DGRAM, args.port), _socket(socket.SOCK_STREAM, 0)
        config.bind = [f"fd://{tls.fileno()}"]
        config.quic_bind = [f"fd://{udp.fileno()}"]
        url = f"https://127.0.0.1:{udp.getsockname()[1]}/"
    else:
        sock = _socket(socket.SOCK_STREAM, args.port)
        config.bind = [f"fd://{sock.fileno()}"]
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print(f"listening on {url}", flush=True)
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
