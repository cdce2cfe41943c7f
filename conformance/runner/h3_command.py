"""The --http3 parts of `conformance run` and `conformance echo-server` (RFC 9220)."""

from __future__ import annotations

__all__ = ["h3_echo_server", "h3_target"]

import argparse
import asyncio
from typing import Any

from conformance.errors import UsageError


def h3_target(url: str, ca: str | None, insecure: bool) -> Any:
    """The HTTP/3 target of `run --http3 --server https://...`."""
    from conformance.targets.h3 import H3Target

    return H3Target.from_url(url, ca, insecure)


def h3_echo_server(args: argparse.Namespace) -> int:
    """`conformance echo-server --http3`: QUIC on UDP, TLS 1.3 with ALPN h3; a self-signed
    certificate made now when no --cert/--key is given."""
    from conformance.targets.h3_server import serve_h3_echo
    from conformance.targets.tcp import check_loopback

    check_loopback(args.host)
    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")

    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_h3_echo(args.host, args.port, cert=args.cert, key=args.key,
                                                 deflate=args.deflate, ready=ready))
        waiters: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # a certificate that did not load: its UsageError
        port = ready.result()
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"listening on https://{host}:{port}/", flush=True)  # over UDP; the last word is the URL
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}/udp: {exc.strerror or exc}") from None
    return 0
