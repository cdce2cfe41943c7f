"""The --http2 parts of `conformance run` and `conformance echo-server` (RFC 8441)."""

from __future__ import annotations

__all__ = ["h2_cases", "h2_echo_server", "serve_announced", "without_h2_cases"]

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from conformance.catalog.model import Case
from conformance.errors import UsageError
from conformance.runner.h2_handshake import h2_inapplicable


def h2_cases(cases: Sequence[Case], out: Any = None, transport: str = "h2") -> list[Case]:
    """The cases that can run over HTTP/2 (`transport` "h3": HTTP/3); the others are named on
    stderr with the reason."""
    name = "HTTP/3" if transport == "h3" else "HTTP/2"
    keep, skipped = [], []
    for case in cases:
        why = h2_inapplicable(case, transport)
        if why:
            skipped.append((case.id, why))
        else:
            keep.append(case)
    if skipped:
        reasons = sorted({why for _, why in skipped})
        print(f"over {name}, {len(skipped)} cases do not apply and are not run "
              f"({', '.join(i for i, _ in skipped[:8])}{' ...' if len(skipped) > 8 else ''}): "
              f"{'; '.join(reasons)}", file=out or sys.stderr)
    if not keep:
        raise UsageError(f"none of the selected cases can run over {name}")
    return keep


def without_h2_cases(cases: Sequence[Case], out: Any = None) -> list[Case]:
    """A run over HTTP/1.1 leaves out the cases written for HTTP/2 or HTTP/3 (`transport: h2/h3`)."""
    keep = [c for c in cases if not c.transport]
    if len(keep) < len(cases):
        print(f"{len(cases) - len(keep)} HTTP/2 and HTTP/3 cases (transport: h2, h3) are not run; "
              "they need --http2 or --http3",
              file=out or sys.stderr)
    if not keep:
        raise UsageError("the selected cases run only over HTTP/2 or HTTP/3: add --http2 or --http3")
    return keep


def h2_echo_server(args: argparse.Namespace) -> int:
    """`conformance echo-server --http2`: h2c with prior knowledge, or TLS with ALPN h2."""
    from conformance.targets.h2 import h2_server_context
    from conformance.targets.h2_server import serve_h2_echo

    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")
    try:
        ctx = h2_server_context(args.cert, args.key) if args.cert else None
    except OSError as exc:
        raise UsageError(f"cannot load the certificate or key: {exc.strerror or exc}") from None

    return serve_announced(args, "https" if ctx else "http", lambda ready: serve_h2_echo(
        args.host, args.port, deflate=args.deflate, ssl_context=ctx, ready=ready))


def serve_announced(args: argparse.Namespace, scheme: str,
                    serve: Callable[[asyncio.Future[int]], Coroutine[Any, Any, None]]) -> int:
    """Run `serve` until interrupted; print `listening on URL` once it has its port (an error
    before that, such as a certificate that does not load, is raised as it is)."""
    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(ready))
        waiters: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"listening on {scheme}://{host}:{ready.result()}/", flush=True)  # the last word is the URL
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0
